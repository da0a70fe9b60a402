import SwiftProtobuf

// Short names for the generated wire messages (proto/ferry/v1/*.proto).

public typealias WireEvent = Ferry_V1_Event
public typealias ClientMessage = Ferry_V1_ClientMessage
public typealias ServerMessage = Ferry_V1_ServerMessage
public typealias ErrorCode = Ferry_V1_ErrorCode
public typealias WireError = Ferry_V1_Error
public typealias Hello = Ferry_V1_Hello
public typealias Welcome = Ferry_V1_Welcome
public typealias Heartbeat = Ferry_V1_Heartbeat
public typealias Goodbye = Ferry_V1_Goodbye
public typealias PublishItem = Ferry_V1_PublishItem
public typealias Publish = Ferry_V1_Publish
public typealias PublishResult = Ferry_V1_PublishResult
public typealias Rejection = Ferry_V1_Rejection
public typealias WireRetryPolicy = Ferry_V1_RetryPolicy
public typealias StartPosition = Ferry_V1_StartPosition
public typealias Subscribe = Ferry_V1_Subscribe
public typealias Subscribed = Ferry_V1_Subscribed
public typealias Unsubscribe = Ferry_V1_Unsubscribe
public typealias Unsubscribed = Ferry_V1_Unsubscribed
public typealias Delivery = Ferry_V1_Delivery
public typealias Deliver = Ferry_V1_Deliver
public typealias Nack = Ferry_V1_Nack
public typealias Settle = Ferry_V1_Settle
public typealias DeadLetterReason = Ferry_V1_DeadLetterReason
public typealias DeadLetter = Ferry_V1_DeadLetter
public typealias DeadLetterList = Ferry_V1_DeadLetterList
public typealias DeadLetterEntries = Ferry_V1_DeadLetterEntries
public typealias DeadLetterRequeue = Ferry_V1_DeadLetterRequeue
public typealias DeadLetterPurge = Ferry_V1_DeadLetterPurge
public typealias DeadLetterCount = Ferry_V1_DeadLetterCount
public typealias StatsRequest = Ferry_V1_StatsRequest
public typealias GroupStats = Ferry_V1_GroupStats
public typealias TopicStats = Ferry_V1_TopicStats
public typealias TopicLag = Ferry_V1_TopicLag
public typealias Stats = Ferry_V1_Stats
public typealias Replay = Ferry_V1_Replay
public typealias Replayed = Ferry_V1_Replayed
public typealias CursorPosition = Ferry_V1_CursorPosition
public typealias HistoryRequest = Ferry_V1_HistoryRequest
public typealias HistoryEntry = Ferry_V1_HistoryEntry
public typealias HistoryEntries = Ferry_V1_HistoryEntries
public typealias SubscriptionEnded = Ferry_V1_SubscriptionEnded
