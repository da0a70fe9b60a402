import Foundation

/// A JSON number read exactly, so a value that fits no integer type (2^63), or a fraction, is
/// reported against its field ("items[0].quantity must be an integer from 1 to 10000") instead
/// of failing the whole body as invalid JSON, which is what decoding it as `Int` does.
struct JSONNumber: Decodable, Sendable, CustomStringConvertible {
    let value: Decimal

    init(from decoder: any Decoder) throws {
        value = try decoder.singleValueContainer().decode(Decimal.self)
    }

    var description: String { "\(value)" }

    /// The number as an integer, if it is a whole number within `range`.
    func integer(in range: ClosedRange<Int64>) -> Int64? {
        guard value >= Decimal(range.lowerBound), value <= Decimal(range.upperBound) else { return nil }
        var rounded = Decimal()
        var exact = value
        NSDecimalRound(&rounded, &exact, 0, .plain)
        guard rounded == value else { return nil }
        return NSDecimalNumber(decimal: value).int64Value
    }
}
