"""The printer shop's installed base: device models with their compatible accessories, and
the devices each customer has at its locations."""

from portalkit.devices.model import Device, DeviceModel
from portalkit.devices.service import DeviceService

__all__ = ["Device", "DeviceModel", "DeviceService"]
