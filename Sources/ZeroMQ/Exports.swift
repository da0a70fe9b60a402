// Poll loops register a WakeupQueue's descriptor next to their sockets.
@_exported import FerryRuntime
