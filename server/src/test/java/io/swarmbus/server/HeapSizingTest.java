package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class HeapSizingTest {
    @Test
    void keepsTheHeapCommitted_unlessTheJvmWasToldOtherwise() {
        HotSpotDiagnosticMXBean hotspot = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
        boolean given = hotspot.getVMOption(HeapSizing.OPTION).getOrigin() != com.sun.management.VMOption.Origin.DEFAULT;
        String before = hotspot.getVMOption(HeapSizing.OPTION).getValue();

        boolean set = HeapSizing.keepCommitted();

        assertThat(set).isEqualTo(!given);
        assertThat(hotspot.getVMOption(HeapSizing.OPTION).getValue()).isEqualTo(given ? before : "100");
        assertThat(HeapSizing.keepCommitted()).as("set now, so not the default any more").isFalse();
    }

    @Test
    void promotesWhatStartingLeftOnTheHeap_outOfTheSurvivorSpaces() {
        MemoryPoolMXBean survivors = ManagementFactory.getMemoryPoolMXBeans().stream()
                .filter(pool -> pool.getName().contains("Survivor"))
                .findFirst().orElseThrow(() -> new AssertionError("no survivor space in this JVM's collector"));
        List<byte[]> kept = new ArrayList<>(); // objects that outlive young collections, as a server's tables do
        for (int i = 0; i < 16; i++) {
            kept.add(new byte[64 << 10]);
        }
        for (int i = 0; i < 100_000 && survivors.getUsage().getUsed() == 0; i++) {
            kept.set(i % 16 == 0 ? 0 : 1, new byte[64 << 10]); // garbage, until a young collection comes
        }
        assertThat(survivors.getUsage().getUsed()).as("the young collections left survivors").isPositive();

        HeapSizing.promoteStartupObjects();

        assertThat(survivors.getUsage().getUsed()).as("survivors after the full collection").isZero();
        assertThat(kept).hasSize(16);
    }
}
