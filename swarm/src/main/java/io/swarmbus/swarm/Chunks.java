package io.swarmbus.swarm;

import java.util.ArrayList;
import java.util.List;

/** Splits a long text into pieces of at most a given size, at paragraph, then sentence, then word breaks. */
final class Chunks {
    private Chunks() {}

    static List<String> split(String text, int maxChars) {
        List<String> chunks = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (String piece : pieces(text.strip(), maxChars)) {
            if (!current.isEmpty() && current.length() + 1 + piece.length() > maxChars) {
                chunks.add(current.toString());
                current.setLength(0);
            }
            current.append(current.isEmpty() ? "" : " ").append(piece);
        }
        if (!current.isEmpty()) {
            chunks.add(current.toString());
        }
        return chunks;
    }

    /** The text in pieces no longer than {@code maxChars}: paragraphs, else sentences, else words, else cut. */
    private static List<String> pieces(String text, int maxChars) {
        List<String> pieces = new ArrayList<>();
        for (String paragraph : text.split("\\n\\s*\\n")) {
            if (paragraph.length() <= maxChars) {
                addIfAny(pieces, paragraph);
                continue;
            }
            for (String sentence : paragraph.split("(?<=[.!?])\\s+")) {
                if (sentence.length() <= maxChars) {
                    addIfAny(pieces, sentence);
                    continue;
                }
                for (String word : sentence.split("\\s+")) {
                    for (int i = 0; i < word.length(); i += maxChars) {
                        addIfAny(pieces, word.substring(i, Math.min(word.length(), i + maxChars)));
                    }
                }
            }
        }
        return pieces;
    }

    private static void addIfAny(List<String> pieces, String piece) {
        String stripped = piece.strip();
        if (!stripped.isEmpty()) {
            pieces.add(stripped);
        }
    }
}
