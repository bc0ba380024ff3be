"""inrcli: turn signals into implicit neural representations stored as .safetensors, and back."""

__version__ = "0.2.0"
