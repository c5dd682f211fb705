"""The OpenAI-compatible HTTP endpoint (FastAPI + uvicorn), served beside gRPC in one process
over the same engine front, auth and admission."""
