package io.swarmbus.server;

import com.sun.management.HotSpotDiagnosticMXBean;
import com.sun.management.VMOption;
import java.lang.management.ManagementFactory;

/**
 * Keeps the heap the server has grown to committed rather than handing it back to the OS.
 *
 * <p>Why: G1 gives memory back when a collection leaves much of the heap free (the JVM's
 * {@code MaxHeapFreeRatio}, 70% by default), and the next time a backlog grows the kernel must
 * zero every page again as the heap re-expands. In W1, whose undrained inboxes grow the heap by a
 * gigabyte a pass, that zeroing was a quarter of the server's CPU samples (docs/benchmarks.md).
 * A server keeps what it once needed, as a database's buffer pool does; the heap's maximum
 * ({@code -Xmx}) still bounds it. Only the default is changed: a {@code -XX:MaxHeapFreeRatio}
 * given to the JVM stands.
 */
final class HeapSizing {
    static final String OPTION = "MaxHeapFreeRatio";

    private HeapSizing() {}

    /** Sets {@value #OPTION} to 100 unless the JVM was given a value; whether it set it. */
    static boolean keepCommitted() {
        HotSpotDiagnosticMXBean hotspot = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
        try {
            if (hotspot == null || hotspot.getVMOption(OPTION).getOrigin() != VMOption.Origin.DEFAULT) {
                return false;
            }
            hotspot.setVMOption(OPTION, "100"); // a manageable flag: G1 reads it at each resize
            return true;
        } catch (RuntimeException e) { // a JVM without the flag: a tuning, not a reason to stop
            return false;
        }
    }
}
