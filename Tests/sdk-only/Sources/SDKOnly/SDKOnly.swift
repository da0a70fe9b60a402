import Ferry

/// What an application on the SDK alone sees.
public typealias SDKBus = EventBus
