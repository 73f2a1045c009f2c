@_exported import MSSControl  // until the CLI imports MSSControl itself
