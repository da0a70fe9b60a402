import Foundation
import OrderEvents
import OrderSystemKit

/// "Sends" emails by writing them into an outbox directory, one `<event id>.eml` file per
/// event, atomically (a temporary file renamed into place), so a redelivery overwrites the
/// same file and a reader never sees half an email. It can play a failing mail server:
/// down while `downFile` exists (a transient error: retried), and bouncing some users
/// (a permanent error: the event is dead-lettered).
struct OutboxSender: Sendable {
    let directory: URL
    let downFile: String?
    let bouncingUsers: Set<String>

    init(directory: String, downFile: String?, bouncingUsers: Set<String>) throws {
        self.directory = URL(fileURLWithPath: directory)
        self.downFile = downFile
        self.bouncingUsers = bouncingUsers.subtracting([""])
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
    }

    /// The file an event's email goes to.
    func file(forEvent eventID: String) -> URL {
        directory.appendingPathComponent(EmailMessage.token(eventID) + ".eml")
    }

    func send(_ message: EmailMessage, userID: String, eventID: String) throws {
        if let downFile, FileManager.default.fileExists(atPath: downFile) {
            throw TransientFailure(message: "mail server unavailable (\(downFile) exists)")
        }
        if bouncingUsers.contains(userID) {
            throw DeadLetterError("recipient \(message.to) bounced")
        }
        let target = file(forEvent: eventID)
        let temporary = directory.appendingPathComponent(".\(target.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            try Data(message.rendered().utf8).write(to: temporary)
            if rename(temporary.path, target.path) != 0 {
                throw TransientFailure(message: "renaming into \(target.path): \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }
}
