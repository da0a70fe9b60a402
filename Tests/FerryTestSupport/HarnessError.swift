/// A test harness could not set up what a test needs (a process did not start, a group did not
/// form): the test fails with this message.
public struct HarnessError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }

    public init(message: String) {
        self.message = message
    }
}
