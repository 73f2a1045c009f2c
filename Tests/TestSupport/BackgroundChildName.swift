import MSSProcess

/// The tests name it as they always have; it lives in MSSProcess, where `mssclamp bench` uses it too.
public typealias BackgroundChild = MSSProcess.BackgroundChild
