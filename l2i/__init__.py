"""l2i: lead intake for US outbound calling by an AI voice agent."""

__version__ = "0.1.0"
