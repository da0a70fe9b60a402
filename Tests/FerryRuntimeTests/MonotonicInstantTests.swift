import FerryRuntime
import Testing

@Suite("MonotonicInstant")
struct MonotonicInstantTests {
    @Test("named units, typed arithmetic, and no span below zero")
    func arithmetic() {
        #expect(Nanoseconds.milliseconds(5).value == 5_000_000)
        #expect(Nanoseconds.seconds(2) == .milliseconds(2000))
        #expect(Nanoseconds.microseconds(1500).wholeMilliseconds == 1)
        #expect(Nanoseconds(.milliseconds(3)) == .milliseconds(3))
        #expect(Nanoseconds(.milliseconds(-3)) == .zero)
        #expect(Nanoseconds.milliseconds(1) - .seconds(1) == .zero)
        let start = MonotonicInstant(nanoseconds: 1000)
        #expect((start + Nanoseconds.microseconds(1)).nanoseconds == 2000)
        #expect(start + Duration.microseconds(1) == MonotonicInstant(nanoseconds: 2000))
        #expect(start.advanced(by: .nanoseconds(-400)).nanoseconds == 600)
        #expect(start.duration(to: MonotonicInstant(nanoseconds: 400)) == .nanoseconds(-600))
        #expect(start - MonotonicInstant(nanoseconds: 5000) == .zero)
        #expect(Duration.milliseconds(1500).wholeMilliseconds == 1500)
        #expect(Duration.microseconds(-2500).wholeMilliseconds == -2)
    }

    @Test("now moves forward and a sleep lasts at least as long as asked")
    func sleeping() {
        let before = MonotonicInstant.now()
        MonotonicInstant.sleep(for: .milliseconds(20))
        let after = MonotonicInstant.now()
        #expect(after - before >= .milliseconds(20))
        #expect(before.duration(to: after) >= .milliseconds(20))
    }

    @Test("a parent watch made now sees its parent alive")
    func parentAlive() {
        let parent = ParentProcess()
        #expect(!parent.hasExited)
    }
}
