import ArgumentParser
import Ferry
import Foundation
import OrderEvents
import OrderSystemKit

/// The demo's refused action: acting as the email worker (its own key, as a compromised or
/// buggy email worker would), publish a payment. The email worker's grants let it consume
/// order events in its groups and publish only payment reminders, so ferryd refuses the event
/// with `FORBIDDEN` and stores nothing.
struct RefusedAction: Sendable {
    let layout: DemoLayout
    let keys: OrderSystemKeys
    let say: @Sendable (String) -> Void

    func show() async throws {
        let identity = OrderSystemIdentity.emailWorker
        say("\n== a refused action: acting as \(identity.name), publish a PaymentProcessed")
        say(
            "   \(identity.name) may consume \(identity.subscribeTopics.joined(separator: ", ")) in group "
                + "\(identity.subscribeGroups.joined(separator: ", ")) and publish only \(identity.publish.joined(separator: ", "))")
        let bus = try EventBus(
            configuration: keys.clientConfiguration(
                endpoint: layout.endpoint, clientName: "order-system-as-email-worker", as: identity.name))
        let forged = PaymentProcessed.with {
            $0.orderID = "ord-forged"
            $0.paymentID = "pay-forged"
            $0.amountCents = 100_000
            $0.currency = "USD"
            $0.method = "card"
            $0.processedAt = .now
        }
        let outcome: Result<PublishReceipt, FerryError>
        do {
            outcome = .success(try await bus.publish(forged))
        } catch {
            outcome = .failure(error)
        }
        await bus.close()
        switch outcome {
        case .failure(let error) where error.code.name == "FORBIDDEN":
            say("   ferryd → \(error.code): \(error.message) (nothing stored)")
        case .failure(let error):
            throw ValidationError("the publish as \(identity.name) failed, but not with FORBIDDEN: \(error)")
        case .success(let receipt):
            throw ValidationError(
                "ferryd accepted a PaymentProcessed from \(identity.name) (\(receipt.topic)#\(receipt.offset)): the credentials do not hold"
            )
        }
    }
}
