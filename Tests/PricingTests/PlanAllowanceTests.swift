import Testing
import ReckonCore
@testable import ReckonTransform

@Suite("Plan allowances: prorated by day when the plan changes mid-month")
struct PlanAllowanceTests {
    private func segment(_ from: String, _ to: String?) -> PlanSchedule.Segment {
        .init(plan: "pro", seats: 1, from: CivilDate(from)!, to: to.map { CivilDate($0)! })
    }

    @Test func aFullMonthIsTheAllowanceExactly() {
        let oct = BillingPeriod("2026-10")!
        #expect(PlanSchedule.allowance(2500, of: segment("2026-09-01", nil), in: oct) == 2500)
        #expect(PlanSchedule.allowance(2500, of: segment("2026-10-01", "2026-11-01"), in: oct) == 2500)
    }

    @Test func aPartOfTheMonthIsRoundedDownToAWholeUnit() {
        let oct = BillingPeriod("2026-10")!
        // 2,500 × 15/31 = 1,209.68 → 1,209; 2,500 × 16/31 = 1,290.32 → 1,290 (not 2,500 in all).
        #expect(PlanSchedule.allowance(2500, of: segment("2026-09-20", "2026-10-16"), in: oct) == 1209)
        #expect(PlanSchedule.allowance(2500, of: segment("2026-10-16", nil), in: oct) == 1290)
        // February 2027 has 28 days: 14 of them are half, exactly.
        #expect(PlanSchedule.allowance(2500, of: segment("2027-02-15", nil), in: BillingPeriod("2027-02")!) == 1250)
        // A segment outside the month brings nothing.
        #expect(PlanSchedule.allowance(2500, of: segment("2026-11-01", nil), in: oct) == 0)
        #expect(PlanSchedule.days(of: segment("2026-10-16", nil), in: oct) == (16, 31))
    }
}
