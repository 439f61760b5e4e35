package io.swarmbus.storage;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DurableTableTest {
    @TempDir
    Path dir;

    static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void putsAndRemoves_surviveReopening_inFirstWriteOrder() {
        try (DurableTable table = DurableTable.open(dir, FsyncPolicy.ALWAYS)) {
            table.put("b", bytes("1"));
            table.put("a", bytes("2"));
            table.put("c", bytes("3"));
            table.put("b", bytes("4"));
            table.remove("c");
            table.remove("never-there");
        }
        try (DurableTable table = DurableTable.open(dir, FsyncPolicy.ALWAYS)) {
            assertThat(table.rows().keySet()).containsExactly("b", "a");
            assertThat(table.get("b")).hasValueSatisfying(v -> assertThat(new String(v, StandardCharsets.UTF_8))
                    .isEqualTo("4"));
            assertThat(table.get("c")).isEmpty();
        }
    }

    @Test
    void rewritingTheSameRows_snapshotsAndKeepsTheJournalSmall() throws Exception {
        byte[] value = new byte[10_000];
        try (DurableTable table = DurableTable.open(dir, FsyncPolicy.INTERVAL)) {
            for (int i = 0; i < 1_000; i++) { // 10 MB written over 10 live rows of 10 KB
                value[0] = (byte) i;
                table.put("row-" + (i % 10), value.clone());
            }
        }
        long onDisk;
        try (Stream<Path> files = Files.walk(dir)) {
            onDisk = files.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        }
        try (DurableTable table = DurableTable.open(dir, FsyncPolicy.ALWAYS)) {
            assertThat(table.rows()).hasSize(10);
            assertThat(table.get("row-9").orElseThrow()[0]).isEqualTo((byte) 999);
        }
        assertThat(onDisk).as("snapshots replaced most of the 10 MB journal").isLessThan(6_000_000);
    }
}
