package io.swarmbus.messaging;

import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.Event.Acked;
import io.swarmbus.messaging.Event.DelayEnded;
import io.swarmbus.messaging.Event.Expired;
import io.swarmbus.messaging.Event.GroupCreated;
import io.swarmbus.messaging.Event.GroupDeleted;
import io.swarmbus.messaging.Event.GroupJoined;
import io.swarmbus.messaging.Event.GroupLeft;
import io.swarmbus.messaging.Event.IdempotencyKept;
import io.swarmbus.messaging.Event.InboxCreated;
import io.swarmbus.messaging.Event.InboxDeleted;
import io.swarmbus.messaging.Event.LeaseExpired;
import io.swarmbus.messaging.Event.LeaseExtended;
import io.swarmbus.messaging.Event.Leased;
import io.swarmbus.messaging.Event.Nacked;
import io.swarmbus.messaging.Event.Released;
import io.swarmbus.messaging.Event.Replayed;
import io.swarmbus.messaging.Event.Restored;
import io.swarmbus.messaging.Event.Sent;
import io.swarmbus.messaging.Event.Subscribed;
import io.swarmbus.messaging.Event.Unsubscribed;
import io.swarmbus.storage.DurabilityListener;
import io.swarmbus.storage.Journal;
import io.swarmbus.storage.RecoveryReport;
import io.swarmbus.storage.RecoveryTarget;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;

/**
 * The {@link MessageBus} implementation: in-memory state rebuilt from an event {@link Journal}.
 *
 * <h2>Implementation notes</h2>
 * <ul>
 *   <li><b>Event sourcing.</b> Every state change is an {@link Event}. A live operation validates,
 *       encodes the event, appends it to the journal and applies it, all under {@code lock}, so
 *       journal order is state order. Recovery decodes and applies the same events through the same
 *       {@link #apply} method. Time-driven transitions (lease and delay ends, TTL expiry) are journaled too, so replay
 *       never reads the clock to decide state.</li>
 *   <li><b>Durable before visible.</b> The journal's writer thread reports each group commit through
 *       {@link DurabilityListener#durable}. Until then a new message counts against inbox depth but
 *       is not in any ready heap, and no caller's future completes: a receiver can never act on a
 *       message that a crash could still lose. {@code confirms} holds the waiting work in sequence
 *       order.</li>
 *   <li><b>Futures complete outside the lock.</b> Work done under the lock queues completions in
 *       {@code completions}; {@link #unlock()} runs them after releasing it, so no caller code runs
 *       under the engine lock.</li>
 *   <li><b>Ready heaps with lazy deletion.</b> A delivery has at most one heap entry
 *       ({@code inReady}); replayed leases leave their entry in place and polling skips entries whose
 *       status is no longer pending, which keeps replay O(n log n).</li>
 *   <li><b>Timers.</b> Leases and delays sit in one deadline-ordered set; a reaper scheduled every
 *       {@code reaperInterval} ends them. Long-poll receivers wake on the event itself, never by
 *       polling.</li>
 * </ul>
 */
final class Engine implements MessageBus {
    private static final DeliveryStatus[] STATUSES = DeliveryStatus.values();

    private final BusConfig config;
    private final ReentrantLock lock = new ReentrantLock();
    private final EventCodec codec = new EventCodec();
    private final ScheduledExecutorService scheduler;
    private final ReentrantLock snapshotLock = new ReentrantLock();
    private static final System.Logger LOG = System.getLogger(Engine.class.getName());
    private static final long SNAPSHOT_RETRY_NANOS = TimeUnit.SECONDS.toNanos(10);
    /** Every lease held changes ({@link #withLeasesHeld}): acks and releases, on their hot path, copy no list. */
    private static final java.util.function.Predicate<DeliveryState> EVERY_LEASE = d -> true;
    private final ExecutorService snapshots = Executors.newSingleThreadExecutor(
            Thread.ofPlatform().name("swarmbus-snapshot").daemon().factory());
    private final AtomicBoolean snapshotQueued = new AtomicBoolean();
    private volatile long snapshotRetryAt = Long.MIN_VALUE;
    private Journal journal;
    private RecoveryReport recovery;

    // ---- state, guarded by lock
    private final LinkedHashMap<MessageId, StoredMessage> messages = new LinkedHashMap<>();
    private final Map<AgentId, Inbox> inboxes = new HashMap<>();
    /** Service addresses that broadcasts pass by ({@link #excludeFromBroadcast}). */
    private final Set<AgentId> unbroadcast = new HashSet<>();
    private final Map<String, TreeSet<AgentId>> groups = new TreeMap<>();
    private final Map<String, TreeSet<AgentId>> topics = new TreeMap<>();
    private final LinkedHashMap<IdempotencyKey, IdempotencyEntry> idempotency = new LinkedHashMap<>();
    /** The keys of {@code idempotency} by sender, so deleting an inbox forgets its keys without a scan of all. */
    private final Map<AgentId, Set<IdempotencyKey>> idempotencyKeysBySender = new HashMap<>();
    private final TreeSet<DeliveryState> timed = new TreeSet<>(DeliveryState.DEADLINE_ORDER);
    /** Finished messages, kept for history outside the heap; {@code messages} holds the rest. */
    private final HistoryLog history = new HistoryLog();
    /** Encodes finished messages for {@code history}; under the lock, or on the recovery thread. */
    private final EventCodec historyCodec = new EventCodec();
    /** About what the live messages take in a snapshot ({@link StoredMessage#snapshotBytes}). */
    private long retainedBytes;
    private final ArrayDeque<Confirm> confirms = new ArrayDeque<>();
    private final List<Runnable> completions = new ArrayList<>();
    /** Told of every durable send, if set ({@link #observeSends}); null costs the send path nothing. */
    private volatile java.util.function.BiConsumer<SendRequest, SendResult> sendObserver;
    /** Told of every delivery dead-lettered as its last lease ran out, if set ({@link #observeDeadLetters}). */
    private volatile java.util.function.BiConsumer<AgentId, MessageId> deadLetterObserver;
    private final LinkedHashSet<Inbox> woken = new LinkedHashSet<>();
    private long lastId;
    /** The sequence number of the last event someone waits for; duplicates of a send wait for it. */
    private long lastAwaitedSeq;
    private boolean closed;
    private Throwable failure;
    private long sent;
    private long delivered;
    private long acked;
    private long nacked;
    private long leasesExpired;
    private long deadLettered;
    private long expired;
    private long duplicates;
    private long notReached;

    /** Work to finish once the journal is durable up to {@code seq}. */
    private record Confirm(long seq, StoredMessage becomesVisible, CompletableFuture<Object> future, Object value) {}

    private Engine(BusConfig config) {
        this.config = config;
        ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1,
                Thread.ofPlatform().name("swarmbus-timer").daemon().factory());
        // Long-poll timeouts are cancelled as soon as a message arrives; drop them at once, or each
        // would hold its receiver's deliveries until the timeout would have fired.
        timer.setRemoveOnCancelPolicy(true);
        this.scheduler = timer;
    }

    /** Opens an engine over the journal made by {@code journalFactory}, recovering its contents. */
    static Engine open(BusConfig config, Function<DurabilityListener, Journal> journalFactory) {
        Engine engine = new Engine(config);
        engine.journal = journalFactory.apply(engine.new Listener());
        try {
            Replayer replayer = engine.new Replayer();
            engine.recovery = engine.journal.recover(replayer);
            replayer.finish();
            engine.resetCounters();
        } catch (RuntimeException e) {
            engine.scheduler.shutdownNow();
            engine.snapshots.shutdownNow();
            engine.journal.close();
            throw e;
        }
        long period = config.reaperInterval().toMillis();
        engine.scheduler.scheduleAtFixedRate(engine::reap, period, Math.max(1, period), TimeUnit.MILLISECONDS);
        return engine;
    }

    /** Counters describe this run, not the replay that rebuilt the state. */
    private void resetCounters() {
        sent = delivered = acked = nacked = leasesExpired = deadLettered = expired = duplicates = 0;
    }

    @Override
    public RecoveryReport recovery() {
        return recovery;
    }

    @Override
    public int maxMessageBytes() {
        return config.maxMessageBytes();
    }

    @Override
    public int maxInboxDepth() {
        return config.maxInboxDepth();
    }

    @Override
    public Duration defaultVisibility() {
        return config.defaultVisibility();
    }

    @Override
    public Duration maxVisibility() {
        return config.maxVisibility();
    }

    // ================================================================ inboxes, groups, topics

    @Override
    public boolean createInbox(AgentId agent) {
        CompletableFuture<Object> done;
        lock.lock();
        try {
            checkOpen();
            if (inboxes.containsKey(agent)) {
                return false;
            }
            done = commit(new InboxCreated(agent), Boolean.TRUE);
        } finally {
            unlock();
        }
        MessageBus.await(done);
        return true;
    }

    @Override
    public void excludeFromBroadcast(AgentId agent) {
        lock.lock();
        try {
            unbroadcast.add(agent);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void deleteInbox(AgentId agent) {
        CompletableFuture<Object> done;
        lock.lock();
        try {
            checkOpen();
            requireInbox(agent);
            done = commit(new InboxDeleted(agent), Boolean.TRUE);
        } finally {
            unlock();
        }
        MessageBus.await(done);
    }

    @Override
    public boolean hasInbox(AgentId agent) {
        lock.lock();
        try {
            return inboxes.containsKey(agent);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public Set<AgentId> inboxes() {
        lock.lock();
        try {
            return Set.copyOf(inboxes.keySet());
        } finally {
            lock.unlock();
        }
    }

    @Override
    public InboxStats inboxStats(AgentId agent) {
        lock.lock();
        try {
            Inbox inbox = requireInbox(agent);
            if (unavailableReason() == null) { // a closed or failed bus journals nothing more
                expireDue(inbox);
            }
            return inbox.stats();
        } finally {
            unlock();
        }
    }

    @Override
    public void requireRoom(AgentId agent) {
        lock.lock();
        try {
            checkRoom(requireInbox(agent));
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void createGroup(String name, Collection<AgentId> members) {
        Address.checkName("group", name);
        CompletableFuture<Object> done;
        lock.lock();
        try {
            checkOpen();
            if (groups.containsKey(name)) {
                throw new SwarmbusException(ErrorCode.ALREADY_EXISTS, "group '" + name + "' already exists");
            }
            for (AgentId member : members) {
                requireInbox(member);
            }
            done = commit(new GroupCreated(name, List.copyOf(new TreeSet<>(members))), Boolean.TRUE);
        } finally {
            unlock();
        }
        MessageBus.await(done);
    }

    @Override
    public void deleteGroup(String name) {
        CompletableFuture<Object> done;
        lock.lock();
        try {
            checkOpen();
            requireGroup(name);
            done = commit(new GroupDeleted(name), Boolean.TRUE);
        } finally {
            unlock();
        }
        MessageBus.await(done);
    }

    @Override
    public boolean joinGroup(String name, AgentId agent) {
        CompletableFuture<Object> done;
        lock.lock();
        try {
            checkOpen();
            requireInbox(agent);
            if (requireGroup(name).contains(agent)) {
                return false;
            }
            done = commit(new GroupJoined(name, agent), Boolean.TRUE);
        } finally {
            unlock();
        }
        MessageBus.await(done);
        return true;
    }

    @Override
    public boolean leaveGroup(String name, AgentId agent) {
        CompletableFuture<Object> done;
        lock.lock();
        try {
            checkOpen();
            if (!requireGroup(name).contains(agent)) {
                return false;
            }
            done = commit(new GroupLeft(name, agent), Boolean.TRUE);
        } finally {
            unlock();
        }
        MessageBus.await(done);
        return true;
    }

    @Override
    public Optional<Set<AgentId>> groupMembers(String name) {
        lock.lock();
        try {
            return Optional.ofNullable(groups.get(name)).map(Set::copyOf);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public Set<String> groups() {
        lock.lock();
        try {
            return Set.copyOf(groups.keySet());
        } finally {
            lock.unlock();
        }
    }

    @Override
    public boolean subscribe(AgentId agent, String topic) {
        Address.checkName("topic", topic);
        CompletableFuture<Object> done;
        lock.lock();
        try {
            checkOpen();
            requireInbox(agent);
            if (topics.getOrDefault(topic, new TreeSet<>()).contains(agent)) {
                return false;
            }
            done = commit(new Subscribed(topic, agent), Boolean.TRUE);
        } finally {
            unlock();
        }
        MessageBus.await(done);
        return true;
    }

    @Override
    public boolean unsubscribe(AgentId agent, String topic) {
        CompletableFuture<Object> done;
        lock.lock();
        try {
            checkOpen();
            if (!topics.getOrDefault(topic, new TreeSet<>()).contains(agent)) {
                return false;
            }
            done = commit(new Unsubscribed(topic, agent), Boolean.TRUE);
        } finally {
            unlock();
        }
        MessageBus.await(done);
        return true;
    }

    @Override
    public Set<AgentId> subscribers(String topic) {
        lock.lock();
        try {
            return Set.copyOf(topics.getOrDefault(topic, new TreeSet<>()));
        } finally {
            lock.unlock();
        }
    }

    // ================================================================ sending

    @Override
    public CompletableFuture<SendResult> sendAsync(SendRequest request) {
        // The bulk of encoding happens here, outside the lock.
        byte[] content = request.content().getBytes(StandardCharsets.UTF_8);
        if (content.length > config.maxMessageBytes()) {
            throw tooLarge(content.length);
        }
        try {
            journal.awaitCapacity();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SwarmbusException(ErrorCode.UNAVAILABLE, "interrupted while waiting for journal capacity");
        }
        CompletableFuture<Object> done;
        lock.lock();
        try {
            checkOpen();
            long now = config.clock().millis();
            Optional<SendResult> duplicate = duplicateOf(request, now);
            if (duplicate.isPresent()) {
                duplicates++;
                done = confirmAt(lastAwaitedSeq, null, duplicate.get());
            } else {
                done = accept(request, content, now);
            }
        } finally {
            unlock();
        }
        @SuppressWarnings("unchecked")
        CompletableFuture<SendResult> result = (CompletableFuture<SendResult>) (CompletableFuture<?>) done;
        java.util.function.BiConsumer<SendRequest, SendResult> observer = sendObserver;
        if (observer == null) {
            return result;
        }
        // Chained ahead of the caller's own steps, so that an audit line for the send comes
        // before any line its answer leads to (a delivery, an ack).
        return result.thenApply(sent -> {
            try {
                observer.accept(request, sent);
            } catch (RuntimeException e) { // the send stands whatever its observer does
                LOG.log(System.Logger.Level.WARNING, "a send observer failed", e);
            }
            return sent;
        });
    }

    @Override
    public void observeSends(java.util.function.BiConsumer<SendRequest, SendResult> observer) {
        sendObserver = observer;
    }

    @Override
    public void observeDeadLetters(java.util.function.BiConsumer<AgentId, MessageId> observer) {
        deadLetterObserver = observer;
    }

    private Optional<SendResult> duplicateOf(SendRequest request, long now) {
        if (request.idempotencyKey().isEmpty()) {
            return Optional.empty();
        }
        IdempotencyKey key = idempotencyKey(request.from(), request.idempotencyKey().get(), request.to(),
                request.keyedPerRecipient() ? KeyScope.RECIPIENT : KeyScope.SENDER);
        IdempotencyEntry entry = idempotency.get(key);
        if (entry == null && key.recipient() != null) {
            // A copy sent before keys had scopes was keyed key/recipient among the sender's own keys.
            IdempotencyEntry unscoped = idempotency.get(IdempotencyKey.own(key.sender(),
                    key.key() + "/" + key.recipient().value()));
            entry = unscoped != null && unscoped.unscoped() ? unscoped : null;
        }
        if (entry == null || now - entry.acceptedAt() >= config.dedupeWindow().toMillis()) {
            return Optional.empty();
        }
        return Optional.of(new SendResult(new MessageId(entry.id()), entry.recipients(), true, entry.passedOver()));
    }

    /**
     * The key a send is deduped under: the sender's own, or for a copy keyed per recipient, one
     * of the recipient's among the sender's copies.
     */
    private static IdempotencyKey idempotencyKey(AgentId sender, String key, Address to, KeyScope scope) {
        return scope == KeyScope.RECIPIENT ? new IdempotencyKey(sender, key, ((Address.Direct) to).agent())
                : IdempotencyKey.own(sender, key);
    }

    private CompletableFuture<Object> accept(SendRequest request, byte[] content, long now) {
        List<AgentId> recipients = recipientsOf(request);
        List<AgentId> passedOver = List.of();
        if (request.to() instanceof Address.Direct) {
            checkRoom(inboxes.get(recipients.get(0)));
        } else {
            // A full inbox refuses its own copy, not everyone's: one agent that stopped receiving
            // must not stop a group, topic or broadcast from reaching the rest. The send is
            // refused only when every inbox it would reach is full.
            passedOver = fullInboxes(recipients);
            if (!passedOver.isEmpty()) {
                if (passedOver.size() == recipients.size()) { // it would reach no one
                    throw inboxFull(inboxes.get(passedOver.get(0)));
                }
                recipients = new ArrayList<>(recipients);
                recipients.removeAll(new HashSet<>(passedOver));
            }
        }
        long id = Math.max(now << MessageId.COUNTER_BITS, lastId + 1);
        Inbox sender = inboxes.get(request.from());
        Address to = request.to() instanceof Address.Direct d ? inboxes.get(d.agent()).address : request.to();
        Message message = new Message(new MessageId(id), sender != null ? sender.agent : request.from(), to, request.type(),
                request.content(), request.priority(), request.correlationId(), request.replyTo(),
                request.conversationId(), request.headers(), Instant.ofEpochMilli(now),
                request.ttl().map(ttl -> Instant.ofEpochMilli(now + ttl.toMillis())), request.idempotencyKey());
        KeyScope scope = request.keyedPerRecipient() ? KeyScope.RECIPIENT : KeyScope.SENDER;
        ByteBuffer encoded = codec.encodeSent(message, recipients, content, scope, passedOver);
        int messageBytes = codec.lastMessageBytes();
        if (messageBytes > config.maxMessageBytes()) {
            throw tooLarge(messageBytes);
        }
        long seq = journal.append(encoded, true);
        lastAwaitedSeq = seq;
        notReached += passedOver.size();
        StoredMessage stored = applySent(new Sent(message, recipients, messageBytes, scope, passedOver), false);
        return confirmAt(seq, stored, new SendResult(message.id(), recipients.size(), false, passedOver));
    }

    private List<AgentId> fullInboxes(List<AgentId> recipients) {
        List<AgentId> full = List.of();
        for (AgentId recipient : recipients) {
            if (isFull(inboxes.get(recipient))) {
                if (full.isEmpty()) {
                    full = new ArrayList<>();
                }
                full.add(recipient);
            }
        }
        return full;
    }

    private void checkRoom(Inbox inbox) {
        if (isFull(inbox)) {
            throw inboxFull(inbox);
        }
    }

    private boolean isFull(Inbox inbox) {
        if (inbox.depth() < config.maxInboxDepth()) {
            return false;
        }
        // A message past its TTL is found out only when a receive polls it, so without this an
        // inbox of expired messages would refuse every send until its agent next received. The
        // inbox's expiry heap finds them from the first to expire: a flood of sends to a full
        // inbox costs a look at the heap's top each, not a walk of the inbox.
        expireDue(inbox);
        return inbox.depth() >= config.maxInboxDepth();
    }

    /**
     * Expires (and journals) the pending messages of {@code inbox} past their TTL, found from the
     * first to expire: the cost is how many expired (each once), not the size of the inbox.
     */
    private void expireDue(Inbox inbox) {
        long now = config.clock().millis();
        long[] due = null;
        int n = 0;
        while (!inbox.expiring.isEmpty() && inbox.expiring.peek().stored.expiresAt <= now) {
            DeliveryState d = inbox.expiring.poll();
            d.inExpiring = false;
            if (d.status == DeliveryStatus.PENDING) {
                due = due == null ? new long[8] : n == due.length ? Arrays.copyOf(due, n * 2) : due;
                due[n++] = d.id();
            }
        }
        if (n > 0) {
            record(new Expired(inbox.agent, Arrays.copyOf(due, n)));
        }
    }

    private InboxFullException inboxFull(Inbox inbox) {
        return new InboxFullException(inbox.agent, inbox.depth(), config.maxInboxDepth());
    }

    private SwarmbusException tooLarge(int bytes) {
        return new SwarmbusException(ErrorCode.MESSAGE_TOO_LARGE, "message is " + bytes
                + " bytes, over the limit max_message_bytes=" + config.maxMessageBytes());
    }

    /**
     * The sorted recipients of a send; the sender never receives its own group, topic or
     * broadcast, and service addresses get no broadcast.
     */
    private List<AgentId> recipientsOf(SendRequest request) {
        Collection<AgentId> targets = switch (request.to()) {
            case Address.Direct d -> List.of(requireInbox(d.agent()).agent);
            case Address.Group g -> requireGroup(g.name());
            case Address.Topic t -> topics.getOrDefault(t.name(), new TreeSet<>());
            case Address.Broadcast b -> new TreeSet<>(inboxes.keySet());
        };
        if (request.to() instanceof Address.Direct) {
            return List.copyOf(targets);
        }
        boolean broadcast = request.to() instanceof Address.Broadcast;
        List<AgentId> recipients = new ArrayList<>(targets.size());
        for (AgentId target : targets) {
            if (!target.equals(request.from()) && !(broadcast && unbroadcast.contains(target))) {
                recipients.add(target);
            }
        }
        return recipients;
    }

    // ================================================================ receiving

    @Override
    public void checkReceive(int max, Duration visibility) {
        if (max < 1 || max > config.maxReceiveBatch()) {
            throw SwarmbusException.invalid("max_messages", "max_messages must be 1 to "
                    + config.maxReceiveBatch() + ", was " + max);
        }
        checkVisibility(visibility);
    }

    @Override
    public CompletableFuture<List<Delivery>> receiveAsync(AgentId agent, int max, Duration visibility, Duration wait) {
        checkReceive(max, visibility);
        if (wait.isNegative()) {
            throw SwarmbusException.invalid("timeout", "timeout must not be negative, was " + wait);
        }
        lock.lock();
        try {
            checkOpen();
            Inbox inbox = requireInbox(agent);
            List<Delivery> now = lease(inbox, max, visibility);
            if (!now.isEmpty() || wait.isZero()) {
                return CompletableFuture.completedFuture(now);
            }
            Waiter waiter = new Waiter(max, visibility);
            inbox.waiters.add(waiter);
            waiter.timeout = scheduler.schedule(() -> giveUp(inbox, waiter), wait.toNanos(), TimeUnit.NANOSECONDS);
            // A receiver that goes away cancels its wait, so that nothing more is leased to it.
            waiter.future.whenComplete((got, failure) -> {
                if (failure instanceof java.util.concurrent.CancellationException && withdraw(inbox, waiter)) {
                    waiter.timeout.cancel(false);
                }
            });
            return waiter.future;
        } finally {
            unlock();
        }
    }

    private void checkVisibility(Duration visibility) {
        if (visibility.toMillis() < 1 || visibility.compareTo(config.maxVisibility()) > 0) {
            throw SwarmbusException.invalid("visibility_timeout", "visibility timeout must be 0.001 to "
                    + inSeconds(config.maxVisibility()) + ", was " + inSeconds(visibility));
        }
    }

    /** A duration as clients write it, in seconds: "43200 seconds", not Java's "PT12H". */
    private static String inSeconds(Duration duration) {
        return java.math.BigDecimal.valueOf(duration.toNanos(), 9).stripTrailingZeros().toPlainString() + " seconds";
    }

    private void giveUp(Inbox inbox, Waiter waiter) {
        if (withdraw(inbox, waiter)) {
            waiter.future.complete(List.of());
        }
    }

    /** Takes a waiter out of its inbox's line unless a delivery claimed it first; whether it did. */
    private boolean withdraw(Inbox inbox, Waiter waiter) {
        if (!waiter.claim()) {
            return false;
        }
        lock.lock();
        try {
            inbox.waiters.remove(waiter);
        } finally {
            lock.unlock();
        }
        return true;
    }

    /** Leases up to {@code max} ready deliveries, journaling one event for the batch. */
    private List<Delivery> lease(Inbox inbox, int max, Duration visibility) {
        List<DeliveryState> chosen = pollReady(inbox, max);
        if (chosen.isEmpty()) {
            return List.of();
        }
        return commitLease(inbox, chosen, visibility);
    }

    private List<Delivery> commitLease(Inbox inbox, List<DeliveryState> chosen, Duration visibility) {
        long deadline = config.clock().millis() + visibility.toMillis();
        long[] ids = new long[chosen.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = chosen.get(i).id();
        }
        record(new Leased(inbox.agent, ids, deadline), () -> chosen.forEach(d -> leaseDelivery(d, deadline)));
        Instant expiresAt = Instant.ofEpochMilli(deadline);
        List<Delivery> deliveries = new ArrayList<>(chosen.size());
        for (DeliveryState d : chosen) {
            deliveries.add(new Delivery(d.stored.message, inbox.agent, d.attempts, expiresAt));
        }
        return deliveries;
    }

    /**
     * Takes up to {@code max} live entries off the ready heap, expiring (and journaling) those past
     * their TTL. Stops before the one that would take their sizes past {@code max_receive_bytes},
     * unless it is the first: one answer then never holds more than that in memory, yet a message
     * as large as any accepted is still delivered. The one left stays first in line, untouched.
     */
    private List<DeliveryState> pollReady(Inbox inbox, int max) {
        List<DeliveryState> chosen = new ArrayList<>(Math.min(max, inbox.ready.size()));
        List<DeliveryState> stale = List.of();
        Instant now = config.clock().instant();
        long bytes = 0;
        while (chosen.size() < max) {
            DeliveryState d = inbox.ready.peek();
            if (d == null) {
                break;
            }
            boolean live = d.status == DeliveryStatus.PENDING && !d.stored.message.expiredAt(now);
            if (live && !chosen.isEmpty() && bytes + d.stored.bytes > config.maxReceiveBytes()) {
                break;
            }
            inbox.ready.poll();
            d.inReady = false;
            if (live) {
                chosen.add(d);
                bytes += d.stored.bytes;
            } else if (d.status == DeliveryStatus.PENDING) {
                stale = stale.isEmpty() ? new ArrayList<>() : stale;
                stale.add(d);
            }
        }
        if (!stale.isEmpty()) {
            record(new Expired(inbox.agent, stale.stream().mapToLong(DeliveryState::id).toArray()));
        }
        return chosen;
    }

    /** Hands newly ready messages to long-poll receivers of the inboxes that got some. */
    private void serveWaiters() {
        while (!woken.isEmpty()) {
            Inbox inbox = woken.removeFirst();
            if (inboxes.get(inbox.agent) != inbox) {
                continue;
            }
            while (!inbox.waiters.isEmpty() && !inbox.ready.isEmpty()) {
                Waiter waiter = inbox.waiters.peek();
                List<DeliveryState> chosen = pollReady(inbox, waiter.max);
                if (chosen.isEmpty()) {
                    break;
                }
                inbox.waiters.poll();
                if (!waiter.claim()) {
                    chosen.forEach(this::pushReady);
                    continue;
                }
                waiter.timeout.cancel(false);
                List<Delivery> deliveries = commitLease(inbox, chosen, waiter.visibility);
                completions.add(() -> {
                    if (!waiter.future.complete(deliveries)) { // cancelled after the claim: nobody takes them
                        releaseAsync(inbox.agent, deliveries);
                    }
                });
            }
        }
    }

    // ================================================================ acks, nacks, dead letters

    @Override
    public CompletableFuture<AckResult> ackAsync(AgentId agent, Collection<MessageId> ids) {
        return withLeasesHeld(agent, ids, d -> true, Acked::new, this::ackDelivery);
    }

    @Override
    public CompletableFuture<AckResult> releaseAsync(AgentId agent, Collection<Delivery> deliveries) {
        Map<MessageId, Delivery> handedOut = new LinkedHashMap<>();
        deliveries.forEach(d -> handedOut.put(d.id(), d));
        try {
            // The lease these deliveries were handed out with, not a later one of the same message.
            return withLeasesHeld(agent, handedOut.keySet(), d -> {
                Delivery given = handedOut.get(d.stored.message.id());
                return d.attempts == given.attempt() && d.deadline == given.leaseExpiresAt().toEpochMilli();
            }, Released::new, this::releaseDelivery);
        } catch (SwarmbusException e) { // the bus closing, the inbox deleted: no lease is left to give back
            return CompletableFuture.completedFuture(new AckResult(List.of(), List.copyOf(handedOut.keySet())));
        }
    }

    @Override
    public CompletableFuture<AckResult> extendLeaseAsync(AgentId agent, Collection<MessageId> ids, Duration visibility) {
        checkVisibility(visibility);
        long deadline = config.clock().millis() + visibility.toMillis();
        return withLeasesHeld(agent, ids, d -> true, (who, held) -> new LeaseExtended(who, held, deadline),
                d -> extendDelivery(d, deadline));
    }

    /**
     * The default from now, or the lease's own end if later. Renewing for the lease's own length
     * was the other choice, but a lease is kept (and journaled, and snapshotted) as a deadline, not
     * a length: that would take a length in every lease record and snapshot, for a receiver that
     * can name the length itself. This way a keep-alive sent more often than the default keeps any
     * lease, whatever length it was taken for, and never takes time away from one; the default from
     * now alone would cut a 10-minute lease to 30 seconds.
     */
    @Override
    public CompletableFuture<AckResult> renewLeaseAsync(AgentId agent, Collection<MessageId> ids) {
        long deadline = config.clock().millis() + config.defaultVisibility().toMillis();
        // Only the leases ending sooner move, and the event names them alone: replay moves the same.
        return withLeasesHeld(agent, ids, d -> true, d -> d.deadline < deadline,
                (who, moved) -> new LeaseExtended(who, moved, deadline), d -> extendDelivery(d, deadline));
    }

    /**
     * Journals {@code event} for the deliveries of {@code ids} that {@code agent} holds a lease on
     * and makes {@code change} to each, which is what applying the event does (without looking
     * each delivery up again); the result lists those and the rest, once durable.
     */
    private CompletableFuture<AckResult> withLeasesHeld(AgentId agent, Collection<MessageId> ids,
            java.util.function.Predicate<DeliveryState> lease,
            java.util.function.BiFunction<AgentId, long[], Event> event,
            java.util.function.Consumer<DeliveryState> change) {
        return withLeasesHeld(agent, ids, lease, EVERY_LEASE, event, change);
    }

    /**
     * {@link #withLeasesHeld(AgentId, Collection, java.util.function.Predicate,
     * java.util.function.BiFunction, java.util.function.Consumer)} for a change that only some of
     * the leases held need ({@code changes}): the event names those alone, and the result lists
     * every lease held.
     */
    private CompletableFuture<AckResult> withLeasesHeld(AgentId agent, Collection<MessageId> ids,
            java.util.function.Predicate<DeliveryState> lease,
            java.util.function.Predicate<DeliveryState> changes,
            java.util.function.BiFunction<AgentId, long[], Event> event,
            java.util.function.Consumer<DeliveryState> change) {
        CompletableFuture<Object> done;
        lock.lock();
        try {
            checkOpen();
            Inbox inbox = requireInbox(agent);
            // An id named twice is answered once, where its first mention put it.
            Set<MessageId> held = new LinkedHashSet<>();
            List<DeliveryState> heldStates = new ArrayList<>(ids.size());
            Set<MessageId> notHeld = new LinkedHashSet<>();
            for (MessageId id : ids) {
                if (held.contains(id)) {
                    continue;
                }
                DeliveryState d = delivery(inbox, id.value());
                if (d == null || d.status != DeliveryStatus.LEASED || !lease.test(d)) {
                    notHeld.add(id);
                } else {
                    held.add(id);
                    heldStates.add(d);
                }
            }
            AckResult result = new AckResult(List.copyOf(held), List.copyOf(notHeld));
            List<DeliveryState> changing = changes == EVERY_LEASE ? heldStates
                    : heldStates.stream().filter(changes).toList();
            if (changing.isEmpty()) {
                return CompletableFuture.completedFuture(result);
            }
            done = commit(event.apply(agent, changing.stream().mapToLong(DeliveryState::id).toArray()), result,
                    () -> changing.forEach(change));
        } finally {
            unlock();
        }
        @SuppressWarnings("unchecked")
        CompletableFuture<AckResult> result = (CompletableFuture<AckResult>) (CompletableFuture<?>) done;
        return result;
    }

    @Override
    public CompletableFuture<DeliveryStatus> nackAsync(AgentId agent, MessageId id, Duration delay) {
        if (delay.isNegative() || delay.compareTo(config.maxVisibility()) > 0) {
            throw SwarmbusException.invalid("delay_seconds", "nack delay must be 0 to " + inSeconds(config.maxVisibility())
                    + ", was " + inSeconds(delay));
        }
        CompletableFuture<Object> done;
        DeliveryStatus after;
        lock.lock();
        try {
            checkOpen();
            DeliveryState d = delivery(requireInbox(agent), id.value());
            if (d == null || d.status != DeliveryStatus.LEASED) {
                throw new SwarmbusException(ErrorCode.LEASE_NOT_HELD, "agent '" + agent
                        + "' holds no lease on message " + id + " (never received, lease expired, or already acked)");
            }
            long notBefore = delay.isZero() ? 0 : config.clock().millis() + delay.toMillis();
            done = commit(new Nacked(agent, id.value(), notBefore), null);
            // Applied at once, so the status it left is the answer: dead-lettered on the last attempt.
            after = d.status;
        } finally {
            unlock();
        }
        return done.thenApply(ignored -> after);
    }

    @Override
    public CompletableFuture<Void> replayAsync(AgentId agent, MessageId id) {
        CompletableFuture<Object> done;
        lock.lock();
        try {
            checkOpen();
            Inbox inbox = requireInbox(agent);
            DeliveryState dead = inbox.dead.get(id.value());
            if (dead == null) {
                throw new SwarmbusException(ErrorCode.NOT_FOUND, "message " + id
                        + " is not in the dead-letter queue of agent '" + agent + "'");
            }
            // Back in the inbox it would expire at once, unread: say so rather than "replayed".
            Message message = dead.stored.message;
            if (message.expiredAt(config.clock().instant())) {
                throw new SwarmbusException(ErrorCode.INVALID_STATE, "message " + id + " expired at "
                        + message.expiresAt().orElseThrow() + " (its ttl ended), so a replay would not deliver it; "
                        + "it stays in the dead-letter queue of agent '" + agent + "'");
            }
            checkRoom(inbox);
            done = commit(new Replayed(agent, id.value()), null);
        } finally {
            unlock();
        }
        return done.thenApply(ignored -> null);
    }

    @Override
    public List<MessageRecord> deadLetters(AgentId agent, Optional<MessageId> after, int limit) {
        lock.lock();
        try {
            long now = config.clock().millis();
            TreeMap<Long, DeliveryState> dead = requireInbox(agent).dead;
            return (after.isPresent() ? dead.tailMap(after.get().value(), false) : dead).values().stream()
                    .limit(limit).map(d -> d.stored.toRecord(now)).toList();
        } finally {
            lock.unlock();
        }
    }

    // ================================================================ queries

    @Override
    public Optional<MessageRecord> message(MessageId id) {
        lock.lock();
        try {
            StoredMessage live = messages.get(id);
            if (live != null) {
                return Optional.of(live.toRecord(config.clock().millis()));
            }
            ByteBuffer kept = history.find(id.value());
            return kept == null ? Optional.empty() : Optional.of(historyRecord(new EventCodec(), kept));
        } finally {
            lock.unlock();
        }
    }

    @Override
    public List<MessageRecord> history(HistoryQuery query) {
        lock.lock();
        try {
            long now = config.clock().millis();
            List<MessageRecord> live = new ArrayList<>();
            for (StoredMessage stored : messages.sequencedValues().reversed()) {
                if (query.matches(stored.message, stored.recipients())) {
                    live.add(stored.toRecord(now));
                    if (live.size() == query.limit()) {
                        break;
                    }
                }
            }
            EventCodec decoder = new EventCodec();
            List<AgentId> parties = new ArrayList<>(2);
            query.agent().ifPresent(parties::add);
            query.peer().ifPresent(parties::add);
            List<HistoryLog.Entry> kept = history.newest(query.limit(), parties, query.involving(), payload -> {
                Restored r = decoder.decodeRestored(payload, false);
                return query.matches(r.message(), r.recipients());
            });
            // Both newest first: merge them by id.
            List<MessageRecord> found = new ArrayList<>();
            int l = 0;
            int k = 0;
            while (found.size() < query.limit() && (l < live.size() || k < kept.size())) {
                if (k == kept.size() || l < live.size()
                        && live.get(l).message().id().value() > kept.get(k).id()) {
                    found.add(live.get(l++));
                } else {
                    found.add(historyRecord(decoder, kept.get(k++).payload()));
                }
            }
            return found;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public BusStats stats() {
        lock.lock();
        try {
            return new BusStats(sent, delivered, acked, nacked, leasesExpired, deadLettered, expired, duplicates,
                    notReached, inboxes.size(), (int) unbroadcast.stream().filter(inboxes::containsKey).count(),
                    messages.size() + history.size(), journal.lastSeq(), journal.durableSeq(), journal.stats());
        } finally {
            lock.unlock();
        }
    }

    // ================================================================ timers, retention, snapshots

    /**
     * Ends due leases and delays, drops history past retention, and starts a snapshot when the
     * journal grew. The snapshot runs on a thread of its own: written on the timer thread, a
     * large one held up lease ends and long-poll timeouts for as long as it took, and one that
     * failed (a full disk) ended the timer for good.
     */
    void reap() {
        long state;
        lock.lock();
        try {
            if (closed || failure != null) {
                return;
            }
            long now = config.clock().millis();
            while (!timed.isEmpty() && timed.first().deadline <= now) {
                DeliveryState d = timed.first();
                switch (d.status) {
                    case LEASED -> record(new LeaseExpired(d.inbox.agent, d.id()));
                    case DELAYED -> record(new DelayEnded(d.inbox.agent, d.id()));
                    default -> clearDeadline(d);
                }
            }
            dropOldHistory(now);
            dropOldIdempotencyKeys(now);
            state = retainedBytes + history.bytes();
        } catch (RuntimeException e) {
            // A storage failure is reported through the listener; the timer must keep running.
            return;
        } finally {
            unlock();
        }
        // A snapshot rewrites every retained message, so it only pays once the journal since the
        // last one holds more than the state it would write: until then replay costs less than
        // twice the state, and a snapshot would free little. While messages pile up unconsumed
        // (the state growing as fast as the journal) none is taken; each one taken costs at most
        // as much disk and CPU as the journal written since the one before.
        long due = Math.max(config.snapshotAfterBytes(), state);
        if (journal.bytesSinceSnapshot() >= due && System.nanoTime() >= snapshotRetryAt
                && snapshotQueued.compareAndSet(false, true)) {
            snapshots.execute(this::backgroundSnapshot);
        }
    }

    private void backgroundSnapshot() {
        try {
            lock.lock();
            try {
                if (closed) {
                    return; // close() writes the last one
                }
            } finally {
                lock.unlock();
            }
            snapshot();
        } catch (RuntimeException e) {
            // The journal keeps every record until a snapshot succeeds; nothing is lost meanwhile.
            snapshotRetryAt = System.nanoTime() + SNAPSHOT_RETRY_NANOS;
            LOG.log(System.Logger.Level.WARNING, "snapshot failed; retrying in "
                    + TimeUnit.NANOSECONDS.toSeconds(SNAPSHOT_RETRY_NANOS) + " s", e);
        } finally {
            snapshotQueued.set(false);
        }
    }

    /** Waits for the snapshot the reaper started, if any. For tests. */
    void awaitBackgroundSnapshot() throws Exception {
        snapshots.submit(() -> { }).get();
    }

    private void dropOldHistory(long now) {
        long oldest = now - config.historyRetention().toMillis();
        while (history.size() > 0
                && (history.size() > config.historyMaxMessages() || history.oldestAcceptedAt() < oldest)) {
            history.dropOldest();
        }
    }

    private void dropOldIdempotencyKeys(long now) {
        long oldest = now - config.dedupeWindow().toMillis();
        var entries = idempotency.entrySet().iterator();
        while (entries.hasNext()) {
            Map.Entry<IdempotencyKey, IdempotencyEntry> entry = entries.next();
            if (entry.getValue().acceptedAt() >= oldest) {
                break;
            }
            entries.remove();
            Set<IdempotencyKey> keys = idempotencyKeysBySender.get(entry.getKey().sender());
            if (keys != null && keys.remove(entry.getKey()) && keys.isEmpty()) {
                idempotencyKeysBySender.remove(entry.getKey().sender());
            }
        }
    }

    @Override
    public void snapshot() {
        snapshotLock.lock();
        try {
            writeSnapshot();
        } finally {
            snapshotLock.unlock();
        }
    }

    private void writeSnapshot() {
        List<Event> events;
        HistoryLog.Pinned finished;
        long seq;
        lock.lock();
        try {
            if (failure != null) {
                throw new SwarmbusException(ErrorCode.STORAGE_FAILURE, "journal failed; cannot snapshot");
            }
            seq = journal.lastSeq();
            events = captureState();
            finished = history.pin();
        } finally {
            lock.unlock();
        }
        try {
            EventCodec snapshotCodec = new EventCodec();
            // History records are already in the snapshot's encoding: they are copied as they are.
            journal.writeSnapshot(seq, sink -> {
                events.forEach(e -> sink.accept(snapshotCodec.encode(e)));
                finished.forEachPayload(sink);
            });
        } finally {
            lock.lock();
            try {
                history.release(finished);
            } finally {
                lock.unlock();
            }
        }
    }

    /** The whole state as events; immutable messages are shared, mutable parts copied. */
    private List<Event> captureState() {
        List<Event> events = new ArrayList<>(messages.size() + inboxes.size() + 16);
        inboxes.keySet().stream().sorted().forEach(agent -> events.add(new InboxCreated(agent)));
        groups.forEach((name, members) -> events.add(new GroupCreated(name, List.copyOf(members))));
        topics.forEach((topic, agents) -> agents.forEach(agent -> events.add(new Subscribed(topic, agent))));
        for (StoredMessage stored : messages.values()) {
            events.add(stored.toRestored());
        }
        idempotency.forEach((key, entry) -> events.add(new IdempotencyKept(key, entry)));
        return events;
    }

    @Override
    public void close() {
        List<Waiter> waiting = new ArrayList<>();
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            for (Inbox inbox : inboxes.values()) {
                waiting.addAll(inbox.waiters);
                inbox.waiters.clear();
            }
        } finally {
            unlock();
        }
        for (Waiter waiter : waiting) {
            if (waiter.claim()) {
                waiter.future.complete(List.of());
            }
        }
        scheduler.shutdownNow();
        snapshots.shutdown();
        try {
            if (config.snapshotOnClose() && failure == null && journal.bytesSinceSnapshot() > 0) {
                snapshot();
            }
        } finally {
            journal.close();
        }
    }

    /**
     * Stops like a crash right after the last durable write: no final snapshot. For recovery tests;
     * the bus must not be used afterwards.
     */
    void abandon() {
        lock.lock();
        try {
            closed = true;
        } finally {
            lock.unlock();
        }
        scheduler.shutdownNow();
        snapshots.shutdownNow();
        journal.close();
    }

    // ================================================================ applying events

    /** Appends an event, applies it, and returns a future completed with {@code value} once durable. */
    private CompletableFuture<Object> commit(Event event, Object value) {
        return commit(event, value, () -> apply(event, false));
    }

    /**
     * {@link #commit(Event, Object)} for a caller that holds the deliveries the event is about:
     * {@code applied} makes the change applying it would, without looking each one up again.
     */
    private CompletableFuture<Object> commit(Event event, Object value, Runnable applied) {
        lastAwaitedSeq = journal.append(codec.encode(event), true);
        applied.run();
        return confirmAt(lastAwaitedSeq, null, value);
    }

    /**
     * Appends and applies a bookkeeping event nobody waits for (a lease, an expiry). It becomes
     * durable with the next awaited event; a crash before that loses at most an attempt count or
     * a transition that replay and the reaper redo.
     */
    private void record(Event event) {
        record(event, () -> apply(event, false));
    }

    /** {@link #record(Event)} with the change made by {@code applied}, as for {@link #commit(Event, Object, Runnable)}. */
    private void record(Event event, Runnable applied) {
        journal.append(codec.encode(event), false);
        applied.run();
    }

    private CompletableFuture<Object> confirmAt(long seq, StoredMessage becomesVisible, Object value) {
        CompletableFuture<Object> future = new CompletableFuture<>();
        if (seq <= journal.durableSeq() && becomesVisible == null) {
            future.complete(value);
        } else {
            confirms.add(new Confirm(seq, becomesVisible, future, value));
        }
        return future;
    }

    /** Applies an event to the state. {@code replaying}: recovered events are durable, so visible at once. */
    private void apply(Event event, boolean replaying) {
        switch (event) {
            case InboxCreated e -> inboxes.putIfAbsent(e.agent(), new Inbox(e.agent()));
            case InboxDeleted e -> applyInboxDeleted(e.agent());
            case GroupCreated e -> groups.put(e.name(), new TreeSet<>(e.members()));
            case GroupDeleted e -> groups.remove(e.name());
            case GroupJoined e -> groups.computeIfAbsent(e.name(), n -> new TreeSet<>()).add(e.agent());
            case GroupLeft e -> Optional.ofNullable(groups.get(e.name())).ifPresent(m -> m.remove(e.agent()));
            case Subscribed e -> topics.computeIfAbsent(e.topic(), t -> new TreeSet<>()).add(e.agent());
            case Unsubscribed e -> unsubscribed(e.topic(), e.agent());
            case Sent e -> applySent(e, replaying);
            case Leased e -> applyLeased(e);
            case Acked e -> applyAcked(e);
            case LeaseExtended e -> applyLeaseExtended(e);
            case Released e -> applyReleased(e);
            case Nacked e -> applyNacked(e);
            case LeaseExpired e -> applyLeaseExpired(e, replaying);
            case Replayed e -> applyReplayed(e);
            case DelayEnded e -> applyDelayEnded(e);
            case Expired e -> applyExpired(e);
            case Restored e -> applyRestored(e);
            case IdempotencyKept e -> keep(e.key(), e.entry());
        }
    }

    private void keep(IdempotencyKey key, IdempotencyEntry entry) {
        idempotency.put(key, entry);
        idempotencyKeysBySender.computeIfAbsent(key.sender(), sender -> new HashSet<>()).add(key);
    }

    /**
     * Forgets what {@code sender} sent under idempotency keys: an agent id deleted and registered
     * again starts afresh, so a key its earlier registration used must not make the new one's send
     * a duplicate of a message it never sent.
     */
    private void forgetIdempotencyKeys(AgentId sender) {
        Set<IdempotencyKey> keys = idempotencyKeysBySender.remove(sender);
        if (keys != null) {
            keys.forEach(idempotency::remove);
        }
    }

    /** A topic exists while it has subscribers. */
    private void unsubscribed(String topic, AgentId agent) {
        TreeSet<AgentId> subscribers = topics.get(topic);
        if (subscribers != null && subscribers.remove(agent) && subscribers.isEmpty()) {
            topics.remove(topic);
        }
    }

    private StoredMessage applySent(Sent e, boolean visible) {
        Message message = e.message();
        StoredMessage stored = new StoredMessage(message, e.recipients().size(), e.messageBytes());
        for (int i = 0; i < stored.deliveries.length; i++) {
            Inbox inbox = inboxes.computeIfAbsent(e.recipients().get(i), Inbox::new);
            DeliveryState d = new DeliveryState(stored, inbox);
            stored.deliveries[i] = d;
            inbox.addPending(d);
            stored.open++;
            if (visible) {
                pushReady(d);
            }
        }
        lastId = Math.max(lastId, message.id().value());
        messages.put(stored.message.id(), stored);
        retainedBytes += stored.snapshotBytes();
        message.idempotencyKey().ifPresent(key -> keep(idempotencyKey(message.from(), key, message.to(), e.keyScope()),
                new IdempotencyEntry(stored.id(), message.createdAt().toEpochMilli(), stored.deliveries.length,
                        e.passedOver(), e.keyScope() == KeyScope.UNSCOPED)));
        sent++;
        if (stored.open == 0) {
            retire(stored);
        }
        return stored;
    }

    private void applyLeased(Leased e) {
        Inbox inbox = inboxes.get(e.agent());
        for (long id : e.ids()) {
            leaseDelivery(delivery(inbox, id), e.deadline());
        }
    }

    /** Leases a pending delivery until {@code deadline}; anything else is left as it is. */
    private void leaseDelivery(DeliveryState d, long deadline) {
        if (d == null || d.status != DeliveryStatus.PENDING) {
            return;
        }
        d.status = DeliveryStatus.LEASED;
        d.attempts++;
        d.inbox.removePending(d);
        d.inbox.leased++;
        setDeadline(d, deadline);
        delivered++;
    }

    private void applyLeaseExtended(LeaseExtended e) {
        Inbox inbox = inboxes.get(e.agent());
        for (long id : e.ids()) {
            extendDelivery(delivery(inbox, id), e.deadline());
        }
    }

    /** Moves a leased delivery's deadline; anything else is left as it is. */
    private void extendDelivery(DeliveryState d, long deadline) {
        if (d != null && d.status == DeliveryStatus.LEASED) {
            setDeadline(d, deadline);
        }
    }

    private void applyAcked(Acked e) {
        Inbox inbox = inboxes.get(e.agent());
        for (long id : e.ids()) {
            ackDelivery(delivery(inbox, id));
        }
    }

    /** Acknowledges a leased delivery; anything else is left as it is. */
    private void ackDelivery(DeliveryState d) {
        if (d == null || d.status != DeliveryStatus.LEASED) {
            return;
        }
        clearDeadline(d);
        d.status = DeliveryStatus.ACKED;
        d.inbox.leased--;
        acked++;
        finishDelivery(d);
    }

    private void applyReleased(Released e) {
        Inbox inbox = inboxes.get(e.agent());
        for (long id : e.ids()) {
            releaseDelivery(delivery(inbox, id));
        }
    }

    /** Ends a lease nobody saw: ready again at once, as if it had not been leased. */
    private void releaseDelivery(DeliveryState d) {
        if (d == null || d.status != DeliveryStatus.LEASED) {
            return;
        }
        d.attempts--;
        delivered--;
        endLease(d, 0);
    }

    private void applyNacked(Nacked e) {
        DeliveryState d = delivery(inboxes.get(e.agent()), e.id());
        if (d != null && d.status == DeliveryStatus.LEASED) {
            nacked++;
            endLease(d, e.notBefore());
        }
    }

    private void applyLeaseExpired(LeaseExpired e, boolean replaying) {
        DeliveryState d = delivery(inboxes.get(e.agent()), e.id());
        if (d != null && d.status == DeliveryStatus.LEASED) {
            leasesExpired++;
            endLease(d, 0);
            if (d.status == DeliveryStatus.DEAD_LETTERED && !replaying) {
                tellDeadLettered(d);
            }
        }
    }

    /** Tells the observer, if any, once the lock is released (a failing one is logged by {@link #unlock}). */
    private void tellDeadLettered(DeliveryState d) {
        java.util.function.BiConsumer<AgentId, MessageId> observer = deadLetterObserver;
        if (observer != null) {
            AgentId agent = d.inbox.agent;
            MessageId id = d.stored.message.id();
            completions.add(() -> observer.accept(agent, id));
        }
    }

    /** A lease ended without an ack: back to the inbox (now or after a delay), or dead after max deliveries. */
    private void endLease(DeliveryState d, long notBefore) {
        clearDeadline(d);
        d.inbox.leased--;
        if (d.attempts >= config.maxDeliveries()) {
            d.status = DeliveryStatus.DEAD_LETTERED;
            d.inbox.dead.put(d.id(), d);
            deadLettered++;
        } else if (notBefore > 0) {
            d.status = DeliveryStatus.DELAYED;
            d.inbox.delayed++;
            setDeadline(d, notBefore);
        } else {
            d.status = DeliveryStatus.PENDING;
            d.inbox.addPending(d);
            pushReady(d);
        }
    }

    private void applyDelayEnded(DelayEnded e) {
        DeliveryState d = delivery(inboxes.get(e.agent()), e.id());
        if (d != null && d.status == DeliveryStatus.DELAYED) {
            clearDeadline(d);
            d.status = DeliveryStatus.PENDING;
            d.inbox.delayed--;
            d.inbox.addPending(d);
            pushReady(d);
        }
    }

    private void applyExpired(Expired e) {
        Inbox inbox = inboxes.get(e.agent());
        for (long id : e.ids()) {
            DeliveryState d = delivery(inbox, id);
            if (d != null && d.status == DeliveryStatus.PENDING) {
                d.status = DeliveryStatus.EXPIRED;
                inbox.removePending(d);
                expired++;
                finishDelivery(d);
            }
        }
    }

    private void applyReplayed(Replayed e) {
        Inbox inbox = inboxes.get(e.agent());
        DeliveryState d = inbox == null ? null : inbox.dead.remove(e.id());
        if (d != null) {
            d.status = DeliveryStatus.PENDING;
            d.attempts = 0;
            inbox.addPending(d);
            pushReady(d);
        }
    }

    private void applyInboxDeleted(AgentId agent) {
        forgetIdempotencyKeys(agent);
        Inbox inbox = inboxes.remove(agent);
        if (inbox == null) {
            return;
        }
        // Only this inbox's deliveries, not a scan of every message (seconds under the lock with
        // millions pending): pending ones are in its ready queue (beside stale entries whose status
        // moved on), dead letters in its dead map, leased and delayed ones in its timed set.
        Set<DeliveryState> open = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        open.addAll(inbox.ready);
        open.addAll(inbox.dead.values());
        open.addAll(inbox.timed());
        for (DeliveryState d : open) {
            if (!d.status.terminal()) {
                clearDeadline(d);
                d.status = DeliveryStatus.DISCARDED;
                finishDelivery(d);
            }
        }
        groups.values().forEach(members -> members.remove(agent));
        topics.values().forEach(subscribers -> subscribers.remove(agent));
        // A waiting receiver learns that the agent is gone, as its next receive would, rather than
        // taking an empty answer for "nothing came" and asking again.
        SwarmbusException gone = new SwarmbusException(ErrorCode.NOT_FOUND, "agent '" + agent
                + "' not found: it was deleted while this receive waited");
        for (Waiter waiter : inbox.waiters) {
            if (waiter.claim()) {
                waiter.timeout.cancel(false);
                completions.add(() -> waiter.future.completeExceptionally(gone));
            }
        }
    }

    private void applyRestored(Restored e) {
        StoredMessage stored = new StoredMessage(e.message(), e.recipients().size(), e.messageBytes());
        for (int i = 0; i < stored.deliveries.length; i++) {
            AgentId recipient = e.recipients().get(i);
            DeliveryStatus status = STATUSES[e.statuses()[i]];
            Inbox inbox = inboxes.get(recipient);
            if (inbox == null) {
                // A snapshot names every inbox before its messages, so a missing one was deleted
                // and its deliveries discarded: they stay history, on an inbox of their own,
                // rather than bringing the deleted inbox back.
                inbox = status.terminal() ? new Inbox(recipient) : inboxes.computeIfAbsent(recipient, Inbox::new);
            }
            DeliveryState d = new DeliveryState(stored, inbox);
            stored.deliveries[i] = d;
            d.status = status;
            d.attempts = e.attempts()[i];
            restore(d, e.deadlines()[i]);
        }
        lastId = Math.max(lastId, stored.id());
        messages.put(stored.message.id(), stored);
        retainedBytes += stored.snapshotBytes();
        if (stored.open == 0) {
            retire(stored);
        }
    }

    private void restore(DeliveryState d, long deadline) {
        if (!d.status.terminal()) {
            d.stored.open++;
        }
        switch (d.status) {
            case PENDING -> {
                d.inbox.addPending(d);
                pushReady(d);
            }
            case LEASED -> {
                d.inbox.leased++;
                setDeadline(d, deadline);
            }
            case DELAYED -> {
                d.inbox.delayed++;
                setDeadline(d, deadline);
            }
            case DEAD_LETTERED -> d.inbox.dead.put(d.id(), d);
            default -> { }
        }
    }

    private void setDeadline(DeliveryState d, long deadline) {
        clearDeadline(d);
        d.deadline = deadline;
        timed.add(d);
        d.inbox.addTimed(d);
    }

    /** Takes a delivery out of the deadline-ordered set (found by its deadline, so before it changes). */
    private void clearDeadline(DeliveryState d) {
        if (timed.remove(d)) {
            d.inbox.removeTimed(d);
        }
    }

    private void pushReady(DeliveryState d) {
        if (!d.inReady) {
            d.inReady = true;
            d.inbox.ready.add(d);
        }
        if (!d.inbox.waiters.isEmpty()) {
            woken.add(d.inbox);
        }
    }

    private void finishDelivery(DeliveryState d) {
        if (--d.stored.open == 0) {
            retire(d.stored);
        }
    }

    /** Moves a message whose deliveries have all ended from the live state to history. */
    private void retire(StoredMessage stored) {
        messages.remove(stored.message.id());
        retainedBytes -= stored.snapshotBytes();
        Restored kept = stored.toRestored();
        history.add(stored.id(), stored.message.createdAt().toEpochMilli(), historyCodec.encode(kept),
                kept.message().from(), kept.recipients());
        while (history.bytes() > config.historyMaxBytes()) {
            history.dropOldest();
        }
    }

    private static MessageRecord historyRecord(EventCodec decoder, ByteBuffer payload) {
        Restored kept = decoder.decodeRestored(payload, true);
        List<DeliveryInfo> deliveries = new ArrayList<>(kept.recipients().size());
        for (int i = 0; i < kept.recipients().size(); i++) {
            deliveries.add(new DeliveryInfo(kept.recipients().get(i), STATUSES[kept.statuses()[i]], kept.attempts()[i]));
        }
        return new MessageRecord(kept.message(), deliveries);
    }

    private DeliveryState delivery(Inbox inbox, long id) {
        StoredMessage stored = messages.get(new MessageId(id));
        if (inbox == null || stored == null) {
            return null;
        }
        DeliveryState d = stored.deliveryTo(inbox.agent);
        return d != null && d.inbox == inbox ? d : null;
    }

    // ================================================================ locking and checks

    /** Serves woken receivers, releases the lock, then completes futures outside it. */
    private void unlock() {
        List<Runnable> toRun = List.of();
        try {
            if (failure == null && !closed) {
                serveWaiters();
            }
        } finally {
            if (!completions.isEmpty()) {
                toRun = new ArrayList<>(completions);
                completions.clear();
            }
            lock.unlock();
        }
        for (Runnable completion : toRun) {
            try {
                completion.run();
            } catch (RuntimeException e) { // one failing must not leave the others' futures hanging
                LOG.log(System.Logger.Level.WARNING, "a completion failed", e);
            }
        }
    }

    @Override
    public Optional<String> unavailable() {
        lock.lock();
        try {
            return Optional.ofNullable(unavailableReason());
        } finally {
            lock.unlock();
        }
    }

    private void checkOpen() {
        String reason = unavailableReason();
        if (reason != null) {
            throw new SwarmbusException(failure != null ? ErrorCode.STORAGE_FAILURE : ErrorCode.UNAVAILABLE, reason,
                    failure);
        }
    }

    /** Why no work is taken now, or null while it is. */
    private String unavailableReason() {
        if (failure != null) {
            return "the journal failed and accepts no more writes: " + failure.getMessage();
        }
        return closed ? "the message bus is closed" : null;
    }

    private Inbox requireInbox(AgentId agent) {
        Inbox inbox = inboxes.get(agent);
        if (inbox == null) {
            throw new SwarmbusException(ErrorCode.NOT_FOUND, "agent '" + agent + "' not found");
        }
        return inbox;
    }

    private TreeSet<AgentId> requireGroup(String name) {
        TreeSet<AgentId> members = groups.get(name);
        if (members == null) {
            throw new SwarmbusException(ErrorCode.NOT_FOUND, "group '" + name + "' does not exist");
        }
        return members;
    }

    // ================================================================ journal callbacks

    /** Hears group commits from the journal's writer thread. */
    private final class Listener implements DurabilityListener {
        @Override
        public void durable(long seq) {
            lock.lock();
            try {
                while (!confirms.isEmpty() && confirms.peekFirst().seq() <= seq) {
                    Confirm confirm = confirms.pollFirst();
                    if (confirm.becomesVisible() != null) {
                        for (DeliveryState d : confirm.becomesVisible().deliveries) {
                            if (d.status == DeliveryStatus.PENDING) {
                                pushReady(d);
                            }
                        }
                    }
                    completions.add(() -> confirm.future().complete(confirm.value()));
                }
            } finally {
                unlock();
            }
        }

        @Override
        public void failed(Throwable cause) {
            List<Confirm> lost;
            lock.lock();
            try {
                failure = cause;
                lost = new ArrayList<>(confirms);
                confirms.clear();
            } finally {
                lock.unlock();
            }
            SwarmbusException error = new SwarmbusException(ErrorCode.STORAGE_FAILURE,
                    "the journal could not persist the change: " + cause.getMessage(), cause);
            lost.forEach(confirm -> confirm.future().completeExceptionally(error));
        }
    }

    /**
     * Feeds recovered events into the state before anything else runs. Two stages, one per core:
     * the journal's thread reads, checks and decodes records; an applier thread applies them in
     * order. Decoding (mostly building strings) and applying cost about the same, so recovery takes
     * about half as long as on one thread.
     */
    private final class Replayer implements RecoveryTarget {
        private static final int BATCH = 512;
        private static final Event[] END = new Event[0];
        private final EventCodec decoder = new EventCodec();
        private final BlockingQueue<Event[]> queue =
                new ArrayBlockingQueue<>(64);
        private Event[] batch = new Event[BATCH];
        private int size;
        private Thread applier;
        private volatile Throwable applyFailure;

        @Override
        public void reset() {
            finish();
            messages.clear();
            retainedBytes = 0;
            inboxes.clear();
            groups.clear();
            topics.clear();
            idempotency.clear();
            idempotencyKeysBySender.clear();
            timed.clear();
            history.clear();
            lastId = 0;
        }

        @Override
        public void snapshotRecord(ByteBuffer payload) {
            add(decoder.decode(payload));
        }

        @Override
        public void journalRecord(long seq, ByteBuffer payload) {
            add(decoder.decode(payload));
        }

        private void add(Event event) {
            if (applier == null) {
                applier = Thread.ofPlatform().name("swarmbus-recovery").daemon().start(this::applyAll);
            }
            batch[size++] = event;
            if (size == BATCH) {
                hand(Arrays.copyOf(batch, size));
                size = 0;
            }
        }

        /** Applies what is queued and waits for the applier; rethrows what it failed on. */
        void finish() {
            if (applier == null) {
                return;
            }
            hand(Arrays.copyOf(batch, size));
            size = 0;
            hand(END);
            try {
                applier.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SwarmbusException(ErrorCode.UNAVAILABLE, "interrupted during recovery");
            }
            applier = null;
            if (applyFailure != null) {
                throw new SwarmbusException(ErrorCode.STORAGE_FAILURE, "recovery failed: " + applyFailure, applyFailure);
            }
        }

        private void hand(Event[] events) {
            try {
                queue.put(events);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SwarmbusException(ErrorCode.UNAVAILABLE, "interrupted during recovery");
            }
        }

        private void applyAll() {
            while (true) {
                Event[] events;
                try {
                    events = queue.take();
                } catch (InterruptedException e) {
                    return;
                }
                if (events == END) {
                    return;
                }
                if (applyFailure != null) {
                    continue; // keep draining so the reading side never blocks
                }
                try {
                    for (Event event : events) {
                        apply(event, true);
                    }
                } catch (RuntimeException e) {
                    applyFailure = e;
                }
            }
        }
    }
}
