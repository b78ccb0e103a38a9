"""Tests against the real Paperclip server (npm @paperclipai/server)."""
