"""The demo: ./run demo."""
