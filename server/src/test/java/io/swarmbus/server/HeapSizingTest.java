package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.ManagementFactory;
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
}
