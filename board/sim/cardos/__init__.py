"""Emulated card operating system serving the open Vitale and CPS profiles."""
