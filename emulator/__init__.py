"""Stateful local Zendesk Support API emulator for syncd's tests and demos."""

from .clock import Clock
from .errors import ApiError
from .faults import Fault
from .zendesk import ZendeskEmulator

__all__ = ["ApiError", "Clock", "Fault", "ZendeskEmulator"]
