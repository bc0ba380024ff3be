"""inrcli: turn signals into implicit neural representations stored as .safetensors, and back."""

__version__ = "0.3.0"
DEFAULT_STEPS = 2000  # training steps of an encode given neither --steps nor --seconds
