package io.swarmbus.llm.sim;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The simulator's prefix cache: a least-recently-used set of prompt block hashes, standing for
 * the KV-cache blocks an inference server keeps. A prompt's cached part is its longest run of
 * leading blocks still held.
 */
final class PrefixCache {
    private final int capacity;
    private final LinkedHashMap<Long, Boolean> blocks;

    PrefixCache(int capacityBlocks) {
        this.capacity = capacityBlocks;
        this.blocks = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Long, Boolean> eldest) {
                return size() > capacity;
            }
        };
    }

    /**
     * How many leading blocks of {@code hashes} were cached; then holds all of them (the prompt's
     * blocks are computed now and kept), most recently used first.
     */
    synchronized int lookupAndInsert(long[] hashes) {
        int hits = 0;
        while (hits < hashes.length && blocks.get(hashes[hits]) != null) {
            hits++;
        }
        if (capacity > 0) {
            for (long hash : hashes) {
                blocks.put(hash, Boolean.TRUE);
            }
        }
        return hits;
    }

    synchronized int size() {
        return blocks.size();
    }
}
