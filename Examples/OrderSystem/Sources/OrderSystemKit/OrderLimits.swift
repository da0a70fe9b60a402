/// How much one order may carry. The bounds keep every event the order system publishes far
/// below ferryd's limits (an event key of at most 1,024 bytes, a payload of at most 1 MiB): the
/// largest order the API accepts makes an `OrderCreated` of under 100 KB. orders-api refuses
/// anything larger with 400, and the workers cut what they derive from an order (reasons, lists
/// of items) to the same bounds, so no event is ever too big to publish.
///
/// Lengths are bytes of UTF-8, as ferryd counts them.
public enum OrderLimits {
    /// `userId`: also the key of the user's `UserAction` events.
    public static let maxUserIDBytes = 128
    /// `items[].productId`.
    public static let maxProductIDBytes = 128
    /// Lines in one order.
    public static let maxItems = 100
    /// `items[].quantity`.
    public static let quantity: ClosedRange<Int64> = 1...10_000
    /// `items[].priceCents`: a unit price of at most one million.
    public static let priceCents: ClosedRange<Int64> = 1...100_000_000
    /// Ship's `trackingNumber`.
    public static let maxTrackingNumberBytes = 64
    /// Cancel's `reason`, and every reason a worker puts into an event.
    public static let maxReasonBytes = 500
    /// Missing lines an `InventoryReservationFailed` lists; its reason counts the rest.
    public static let maxListedMissingItems = 20
    /// A request body (larger ones get 413): room for the largest valid order, even with every
    /// character written as a JSON `\u` escape.
    public static let maxRequestBodyBytes = 256 * 1024
}
