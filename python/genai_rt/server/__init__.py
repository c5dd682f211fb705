"""The served face of the runtime: gRPC services (grpc.aio) over one Engine, auth, admission,
health, reflection and drain; an OpenAI-compatible HTTP endpoint beside it (``server.http``).

``GrpcServer`` (app.py) assembles them; ``genai-rt serve`` runs it (cli_commands.py).
"""
