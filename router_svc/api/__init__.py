"""The HTTP API: ``create_app`` (app.py) serves the OpenAI-compatible routes under routes/."""
