"""Model side: Hugging Face checkpoint loading, the Llama-family decoder, attention backends."""
