"""Chat models: the provider chain (LLM_PROVIDER, LLM_FALLBACKS, extractive) with failover,
the local and extractive models, the model gate and the response cache."""

from app.llm.factory import ChatModels, build_chat_models, max_passages, passages_read, ping_model

__all__ = ["ChatModels", "build_chat_models", "max_passages", "passages_read", "ping_model"]
