import Testing
import TollgateCore
import TollgateRedis

struct KeyLayoutTests {
    /// Partition N's tag hashes into the N-th equal slice of the slot space, so partitions
    /// spread evenly over any evenly split cluster.
    @Test(arguments: [1, 3, 16, 64, 1_024])
    func partitionsSpreadOverEqualSlotSlices(partitions: Int) {
        let keys = KeyLayout(prefix: "tg", partitions: partitions)
        for partition in 0..<partitions {
            let slot = Int(HashSlot(key: keys.tag(partition) + ":ledger").rawValue)
            #expect(slot >= partition * HashSlot.count / partitions && slot < (partition + 1) * HashSlot.count / partitions,
                    "partition \(partition) of \(partitions) is in slot \(slot)")
        }
    }

    @Test func sixteenPartitionsOverThreeEvenPrimaries() {
        let keys = KeyLayout(prefix: "tg", partitions: 16)
        let perPrimary = HashSlot.count / 3
        var counts = [0, 0, 0]
        for partition in 0..<16 {
            counts[min(Int(HashSlot(key: keys.tag(partition)).rawValue) / perPrimary, 2)] += 1
        }
        #expect(counts.sorted() == [5, 5, 6])
    }

    /// The 16 default partition tags as first shipped.
    static let shippedTags = ["p0.41", "p1.42", "p2.3", "p3.0", "p4.22", "p5.21", "p6.11", "p7.12", "p8.61", "p9.62", "p10.62", "p11.61", "p12.43", "p13.40", "p14.12", "p15.11"]

    /// The tags are part of the data's address: changing them would orphan every deployed key.
    @Test func tagsAreStable() {
        let keys = KeyLayout(prefix: "tg", partitions: 16)
        #expect((0..<16).map(keys.tag) == Self.shippedTags.map { "tg:{\($0)}" })
        #expect(keys.state(organization: "acme").hasPrefix(keys.tag(keys.partition(of: "acme")) + ":s:"))
    }

    /// rollup.lua takes the ledger and every roll-up of a batch as KEYS: on a Cluster they
    /// must share the partition's slot, as must the refusal counts and an organisation's alert log.
    @Test func overviewRollupsShareTheirPartitionsSlot() {
        let keys = KeyLayout(prefix: "tg", partitions: 16)
        for organization in ["acme", "globex", "org00042"] {
            let partition = keys.partition(of: organization)
            var batch = [keys.ledger(partition: partition), keys.rollup(organization: organization, period: .day, label: "20261130"),
                         keys.hourlyCost(organization: organization, label: "2026113014"), keys.refusals(partition: partition, label: "20261130"),
                         keys.alertLog(organization: organization), keys.alertMarker(organization: organization, name: "x")]
            for period in [RollupPeriod.day, .month] { batch += OverviewRollups.keys(keys, partition: partition, period: period, label: "20261130") }
            #expect(KeyLayout.sameSlot(batch), "\(organization)")
            #expect(Set(OverviewRollups.keys(keys, partition: partition, period: .day, label: "20261130")).count == 7)
        }
    }
}
