import CZeroMQ

/// The ZeroMQ socket patterns Ferry uses.
public enum SocketType: Sendable {
    case router, dealer, pair, push, pull, pub, sub, req, rep

    var rawValue: Int32 {
        switch self {
        case .router: ZMQ_ROUTER
        case .dealer: ZMQ_DEALER
        case .pair: ZMQ_PAIR
        case .push: ZMQ_PUSH
        case .pull: ZMQ_PULL
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .req: ZMQ_REQ
        case .rep: ZMQ_REP
        }
    }
}
