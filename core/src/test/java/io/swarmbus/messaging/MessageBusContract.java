package io.swarmbus.messaging;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.storage.FsyncPolicy;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every messaging rule, run once per fsync policy by the subclasses. Time is a {@link FakeClock};
 * timers run when a test calls {@link Engine#reap()}.
 */
abstract class MessageBusContract {
    static final AgentId ALICE = AgentId.of("alice");
    static final AgentId BOB = AgentId.of("bob");
    static final AgentId CAROL = AgentId.of("carol");
    static final Duration LEASE = Duration.ofSeconds(30);

    @TempDir
    Path dir;
    final FakeClock clock = new FakeClock();
    MessageBus bus;

    abstract FsyncPolicy policy();

    BusConfig.Builder config() {
        return BusConfig.builder(dir).fsyncPolicy(policy()).clock(clock).reaperInterval(Duration.ofHours(1));
    }

    @BeforeEach
    void openBus() {
        bus = MessageBus.open(config().build());
        for (AgentId agent : List.of(ALICE, BOB, CAROL)) {
            bus.createInbox(agent);
        }
    }

    @AfterEach
    void closeBus() {
        bus.close();
    }

    void reopen() {
        reopen(UnaryOperator.identity());
    }

    void reopen(UnaryOperator<BusConfig.Builder> tweak) {
        bus.close();
        bus = MessageBus.open(tweak.apply(config()).build());
    }

    void runTimers() {
        ((Engine) bus).reap();
    }

    SendResult send(AgentId from, Address to, String content) {
        return bus.send(SendRequest.builder(from, to).content(content).build());
    }

    SendResult send(AgentId from, AgentId to, String content, Priority priority) {
        return bus.send(SendRequest.builder(from, Address.agent(to)).content(content).priority(priority).build());
    }

    List<String> contents(List<Delivery> deliveries) {
        return deliveries.stream().map(d -> d.message().content()).toList();
    }

    DeliveryStatus statusOf(MessageId id, AgentId recipient) {
        return bus.message(id).orElseThrow().deliveries().stream()
                .filter(d -> d.recipient().equals(recipient)).findFirst().orElseThrow().status();
    }

    // ---------------------------------------------------------------- addressing

    @Test
    void send_direct_isReceivedAndAcked() {
        SendResult sent = send(ALICE, Address.agent(BOB), "\"hi\"");

        List<Delivery> got = bus.receive(BOB, 10);

        assertThat(sent.recipients()).isEqualTo(1);
        assertThat(got).singleElement().satisfies(d -> {
            assertThat(d.id()).isEqualTo(sent.id());
            assertThat(d.message().from()).isEqualTo(ALICE);
            assertThat(d.attempt()).isEqualTo(1);
            assertThat(d.leaseExpiresAt()).isEqualTo(clock.instant().plus(LEASE));
        });
        bus.ack(BOB, sent.id());
        assertThat(statusOf(sent.id(), BOB)).isEqualTo(DeliveryStatus.ACKED);
        assertThat(bus.receive(BOB, 10)).isEmpty();
    }

    @Test
    void send_toGroup_fansOutOneDeliveryPerMemberButTheSender() {
        bus.createGroup("team", List.of(ALICE, BOB, CAROL));

        SendResult sent = send(ALICE, Address.group("team"), "{\"x\":1}");

        assertThat(sent.recipients()).isEqualTo(2);
        assertThat(bus.receive(ALICE, 10)).isEmpty();
        Delivery toBob = bus.receive(BOB, 10).getFirst();
        bus.ack(BOB, toBob.id());
        assertThat(statusOf(sent.id(), BOB)).isEqualTo(DeliveryStatus.ACKED);
        assertThat(statusOf(sent.id(), CAROL)).isEqualTo(DeliveryStatus.PENDING);
        assertThat(contents(bus.receive(CAROL, 10))).containsExactly("{\"x\":1}");
    }

    @Test
    void groupMembership_joinAndLeave_changeFanOut() {
        bus.createGroup("team", List.of(BOB));
        assertThat(bus.joinGroup("team", CAROL)).isTrue();
        assertThat(bus.joinGroup("team", CAROL)).isFalse();
        assertThat(bus.leaveGroup("team", BOB)).isTrue();

        send(ALICE, Address.group("team"), "1");

        assertThat(bus.groupMembers("team")).contains(Set.of(CAROL));
        assertThat(bus.receive(BOB, 10)).isEmpty();
        assertThat(bus.receive(CAROL, 10)).hasSize(1);
        bus.deleteGroup("team");
        assertThat(bus.groups()).isEmpty();
    }

    @Test
    void createGroup_withUnknownMember_isNotFoundAndCreatesNothing() {
        assertThatThrownBy(() -> bus.createGroup("team", List.of(BOB, AgentId.of("ghost"))))
                .isInstanceOfSatisfying(SwarmbusException.class,
                        e -> assertThat(e.code()).isEqualTo(ErrorCode.NOT_FOUND))
                .hasMessageContaining("ghost");
        assertThat(bus.groups()).isEmpty();
    }

    @Test
    void createGroup_twice_isAlreadyExists() {
        bus.createGroup("team", List.of(BOB));
        assertThatThrownBy(() -> bus.createGroup("team", List.of(CAROL)))
                .isInstanceOfSatisfying(SwarmbusException.class,
                        e -> assertThat(e.code()).isEqualTo(ErrorCode.ALREADY_EXISTS));
    }

    @Test
    void publish_toTopic_reachesSubscribersOnly() {
        bus.subscribe(BOB, "news");
        bus.subscribe(ALICE, "news");

        SendResult sent = send(ALICE, Address.topic("news"), "1");
        bus.unsubscribe(BOB, "news");
        send(ALICE, Address.topic("news"), "2");

        assertThat(sent.recipients()).isEqualTo(1);
        assertThat(contents(bus.receive(BOB, 10))).containsExactly("1");
        assertThat(bus.receive(CAROL, 10)).isEmpty();
        assertThat(bus.subscribers("news")).containsExactly(ALICE);
    }

    @Test
    void publish_toTopicWithoutSubscribers_isAcceptedAndKeptInHistory() {
        SendResult sent = send(ALICE, Address.topic("nobody"), "1");

        assertThat(sent.recipients()).isZero();
        assertThat(bus.message(sent.id())).isPresent();
    }

    @Test
    void broadcast_reachesEveryInboxButTheSender() {
        SendResult sent = send(ALICE, Address.broadcast(), "all");

        assertThat(sent.recipients()).isEqualTo(2);
        assertThat(bus.receive(BOB, 10)).hasSize(1);
        assertThat(bus.receive(CAROL, 10)).hasSize(1);
        assertThat(bus.receive(ALICE, 10)).isEmpty();
    }

    @Test
    void broadcast_passesServiceAddressesBy_whichStillTakeDirectMessages() {
        AgentId service = AgentId.of("service");
        bus.createInbox(service);
        bus.excludeFromBroadcast(service);

        SendResult sent = send(ALICE, Address.broadcast(), "all");
        send(ALICE, Address.agent(service), "to the service");

        assertThat(sent.recipients()).isEqualTo(2);
        assertThat(bus.receive(service, 10)).singleElement()
                .satisfies(d -> assertThat(d.message().content()).isEqualTo("to the service"));
    }

    @Test
    void aReceiveWaitingWhenItsAgentIsDeleted_failsNotFound() {
        var waiting = bus.receiveAsync(BOB, 1, java.time.Duration.ofSeconds(30), java.time.Duration.ofSeconds(30));
        assertThat(waiting).isNotDone();

        bus.deleteInbox(BOB);

        assertThat(waiting).failsWithin(java.time.Duration.ofSeconds(5))
                .withThrowableOfType(java.util.concurrent.ExecutionException.class)
                .havingCause().isInstanceOfSatisfying(SwarmbusException.class,
                        e -> assertThat(e.code()).isEqualTo(ErrorCode.NOT_FOUND));
    }

    @Test
    void send_toUnknownAgentOrGroup_isNotFound() {
        assertThatThrownBy(() -> send(ALICE, Address.agent("ghost"), "1"))
                .isInstanceOfSatisfying(SwarmbusException.class,
                        e -> assertThat(e.code()).isEqualTo(ErrorCode.NOT_FOUND))
                .hasMessageContaining("'ghost'");
        assertThatThrownBy(() -> send(ALICE, Address.group("nope"), "1"))
                .isInstanceOfSatisfying(SwarmbusException.class,
                        e -> assertThat(e.code()).isEqualTo(ErrorCode.NOT_FOUND));
    }

    @Test
    void deleteInbox_discardsItsDeliveriesAndMemberships() {
        bus.createGroup("team", List.of(BOB, CAROL));
        SendResult sent = send(ALICE, Address.agent(BOB), "1");

        bus.deleteInbox(BOB);

        assertThat(bus.hasInbox(BOB)).isFalse();
        assertThat(statusOf(sent.id(), BOB)).isEqualTo(DeliveryStatus.DISCARDED);
        assertThat(bus.groupMembers("team")).contains(Set.of(CAROL));
        assertThatThrownBy(() -> bus.receive(BOB, 1)).isInstanceOf(SwarmbusException.class);
    }

    @Test
    void deleteInbox_discardsPendingLeasedDelayedAndDeadDeliveries_andLeavesOtherRecipientsAlone() {
        reopen(c -> c.maxDeliveries(2));
        bus.createGroup("team", List.of(BOB, CAROL));
        MessageId dead = send(ALICE, BOB, "dead", Priority.CRITICAL).id();
        bus.receive(BOB, 1);
        bus.nack(BOB, dead, Duration.ZERO);
        bus.receive(BOB, 1);
        bus.nack(BOB, dead, Duration.ZERO);
        MessageId delayed = send(ALICE, BOB, "delayed", Priority.HIGH).id();
        bus.receive(BOB, 1);
        bus.nack(BOB, delayed, Duration.ofMinutes(5));
        MessageId leased = send(ALICE, BOB, "leased", Priority.HIGH).id();
        bus.receive(BOB, 1);
        MessageId acked = send(ALICE, BOB, "acked", Priority.HIGH).id();
        bus.receive(BOB, 1);
        bus.ack(BOB, acked);
        MessageId shared = send(ALICE, Address.group("team"), "shared").id();
        bus.receive(CAROL, 1);
        assertThat(statusOf(dead, BOB)).isEqualTo(DeliveryStatus.DEAD_LETTERED);
        assertThat(statusOf(delayed, BOB)).isEqualTo(DeliveryStatus.DELAYED);
        assertThat(statusOf(leased, BOB)).isEqualTo(DeliveryStatus.LEASED);

        bus.deleteInbox(BOB);

        for (MessageId id : List.of(dead, delayed, leased, shared)) {
            assertThat(statusOf(id, BOB)).as(id.toString()).isEqualTo(DeliveryStatus.DISCARDED);
        }
        assertThat(statusOf(acked, BOB)).isEqualTo(DeliveryStatus.ACKED);
        assertThat(statusOf(shared, CAROL)).as("another inbox's lease is left alone").isEqualTo(DeliveryStatus.LEASED);
        clock.advance(Duration.ofMinutes(10)); // the leases and the delay end: only Carol's comes back
        runTimers();
        reopen(c -> c.maxDeliveries(2));
        assertThat(bus.hasInbox(BOB)).isFalse();
        assertThat(statusOf(delayed, BOB)).isEqualTo(DeliveryStatus.DISCARDED);
        assertThat(contents(bus.receive(CAROL, 10))).containsExactly("shared");
    }

    // ---------------------------------------------------------------- order

    @Test
    void receive_returnsHigherPriorityFirstAndFifoWithinPriority() {
        send(ALICE, BOB, "low-1", Priority.LOW);
        send(ALICE, BOB, "medium-1", Priority.MEDIUM);
        send(ALICE, BOB, "critical-1", Priority.CRITICAL);
        send(ALICE, BOB, "low-2", Priority.LOW);
        send(ALICE, BOB, "high-1", Priority.HIGH);
        send(ALICE, BOB, "critical-2", Priority.CRITICAL);

        assertThat(contents(bus.receive(BOB, 3))).containsExactly("critical-1", "critical-2", "high-1");
        assertThat(contents(bus.receive(BOB, 10))).containsExactly("medium-1", "low-1", "low-2");
    }

    @Test
    void redelivery_keepsTheOriginalPlaceInOrder() {
        SendResult first = send(ALICE, BOB, "first", Priority.MEDIUM);
        bus.receive(BOB, 1);
        send(ALICE, BOB, "second", Priority.MEDIUM);

        bus.nack(BOB, first.id(), Duration.ZERO);

        assertThat(contents(bus.receive(BOB, 10))).containsExactly("first", "second");
    }

    @Test
    void messageIds_areTimeOrdered() {
        MessageId a = send(ALICE, Address.agent(BOB), "1").id();
        MessageId b = send(ALICE, Address.agent(BOB), "2").id();
        clock.advance(Duration.ofMillis(5));
        MessageId c = send(ALICE, Address.agent(BOB), "3").id();

        assertThat(List.of(a, b, c)).isSorted();
        assertThat(a.toString().compareTo(c.toString())).isNegative();
        assertThat(c.timestamp()).isEqualTo(clock.instant());
        assertThat(MessageId.parse(c.toString())).isEqualTo(c);
    }

    // ---------------------------------------------------------------- leases, acks, nacks, dead letters

    @Test
    void leaseExpiry_redeliversWithTheNextAttempt() {
        SendResult sent = send(ALICE, Address.agent(BOB), "1");
        bus.receive(BOB, 1, Duration.ofSeconds(5), Duration.ZERO);

        clock.advance(Duration.ofSeconds(4));
        runTimers();
        assertThat(bus.receive(BOB, 1)).isEmpty();
        clock.advance(Duration.ofSeconds(1));
        runTimers();

        Delivery again = bus.receive(BOB, 1).getFirst();
        assertThat(again.id()).isEqualTo(sent.id());
        assertThat(again.attempt()).isEqualTo(2);
        assertThat(bus.stats().leasesExpired()).isEqualTo(1);
    }

    @Test
    void extendLease_keepsADeliveryLeased_pastItsFirstDeadline_andSurvivesReopening() {
        SendResult sent = send(ALICE, Address.agent(BOB), "1");
        SendResult other = send(ALICE, Address.agent(CAROL), "2");
        bus.receive(BOB, 1, Duration.ofSeconds(5), Duration.ZERO);

        clock.advance(Duration.ofSeconds(4));
        AckResult extended = bus.extendLeaseAsync(BOB, List.of(sent.id(), other.id()), Duration.ofSeconds(10)).join();
        reopen();
        clock.advance(Duration.ofSeconds(9));
        runTimers();
        assertThat(bus.receive(BOB, 1)).as("still leased at 13 s").isEmpty();
        clock.advance(Duration.ofSeconds(2));
        runTimers();

        assertThat(extended.acked()).containsExactly(sent.id());
        assertThat(extended.notHeld()).containsExactly(other.id());
        Delivery again = bus.receive(BOB, 1).getFirst();
        assertThat(again.attempt()).as("an extension is not a new attempt").isEqualTo(2);
        assertThatThrownBy(() -> bus.extendLeaseAsync(BOB, List.of(sent.id()), Duration.ZERO))
                .isInstanceOf(SwarmbusException.class);
    }

    /**
     * Regression: an extend that named no length made every lease end the default from now, and
     * so cut a lease taken for longer short.
     */
    @Test
    void renewLease_endsALeaseAtLeastTheDefaultFromNow_neverSooner_andSurvivesReopening() {
        SendResult longLease = send(ALICE, Address.agent(BOB), "long");
        SendResult shortLease = send(ALICE, Address.agent(BOB), "short");
        SendResult other = send(ALICE, Address.agent(CAROL), "other");
        bus.receive(BOB, 1, Duration.ofSeconds(600), Duration.ZERO);
        bus.receive(BOB, 1, Duration.ofSeconds(10), Duration.ZERO);

        clock.advance(Duration.ofSeconds(5));
        AckResult renewed = bus.renewLeaseAsync(BOB, List.of(longLease.id(), shortLease.id(), other.id())).join();
        reopen();
        clock.advance(Duration.ofSeconds(29));
        runTimers();
        assertThat(bus.receive(BOB, 10)).as("at 34 s the short lease holds: 5 s + the 30 s default").isEmpty();
        clock.advance(Duration.ofSeconds(1));
        runTimers();
        Delivery again = bus.receive(BOB, 10).getFirst();
        bus.ack(BOB, again.id());
        clock.advance(Duration.ofSeconds(564));
        runTimers();
        assertThat(bus.receive(BOB, 10)).as("at 599 s the long lease holds").isEmpty();
        clock.advance(Duration.ofSeconds(1));
        runTimers();

        assertThat(renewed.acked()).containsExactly(longLease.id(), shortLease.id());
        assertThat(renewed.notHeld()).containsExactly(other.id());
        assertThat(again.id()).isEqualTo(shortLease.id());
        assertThat(bus.receive(BOB, 10)).singleElement().satisfies(d -> {
            assertThat(d.id()).isEqualTo(longLease.id());
            assertThat(d.attempt()).isEqualTo(2);
        });
    }

    @Test
    void ack_afterLeaseExpired_isLeaseNotHeld() {
        SendResult sent = send(ALICE, Address.agent(BOB), "1");
        bus.receive(BOB, 1, Duration.ofSeconds(1), Duration.ZERO);
        clock.advance(Duration.ofSeconds(2));
        runTimers();

        assertThatThrownBy(() -> bus.ack(BOB, sent.id()))
                .isInstanceOfSatisfying(SwarmbusException.class,
                        e -> assertThat(e.code()).isEqualTo(ErrorCode.LEASE_NOT_HELD));
    }

    @Test
    void ack_twiceOrByAnotherAgent_isLeaseNotHeld() {
        SendResult sent = send(ALICE, Address.agent(BOB), "1");
        bus.receive(BOB, 1);
        bus.ack(BOB, sent.id());

        assertThatThrownBy(() -> bus.ack(BOB, sent.id())).isInstanceOf(SwarmbusException.class);
        assertThatThrownBy(() -> bus.ack(CAROL, sent.id())).isInstanceOf(SwarmbusException.class);
    }

    @Test
    void ackBatch_reportsWhichIdsWereNotHeld() {
        MessageId a = send(ALICE, Address.agent(BOB), "a").id();
        MessageId b = send(ALICE, Address.agent(BOB), "b").id();
        bus.receive(BOB, 1);

        AckResult result = MessageBus.await(bus.ackAsync(BOB, List.of(a, b, a, b)));

        assertThat(result.acked()).containsExactly(a);
        assertThat(result.notHeld()).as("an id named twice is answered once").containsExactly(b);
    }

    @Test
    void nack_withoutDelay_redeliversAtOnce() {
        SendResult sent = send(ALICE, Address.agent(BOB), "1");
        bus.receive(BOB, 1);

        bus.nack(BOB, sent.id(), Duration.ZERO);

        assertThat(bus.receive(BOB, 1)).singleElement().satisfies(d -> assertThat(d.attempt()).isEqualTo(2));
    }

    @Test
    void release_makesDeliveriesReadyAtOnce_withoutCountingTheAttempt_andSurvivesReopen() {
        reopen(c -> c.maxDeliveries(1));
        SendResult sent = send(ALICE, Address.agent(BOB), "1");
        send(ALICE, Address.agent(BOB), "2");
        List<Delivery> both = bus.receive(BOB, 2);
        Delivery leased = both.getFirst();
        MessageId id = leased.id();
        bus.ack(BOB, both.getLast().id());

        assertThat(MessageBus.await(bus.releaseAsync(ALICE, List.of(leased))).notHeld()).as("not alice's lease")
                .containsExactly(id);
        AckResult released = MessageBus.await(bus.releaseAsync(BOB, both));

        assertThat(released.acked()).containsExactly(id);
        assertThat(released.notHeld()).as("acked already").containsExactly(both.getLast().id());
        assertThat(statusOf(sent.id(), BOB)).isEqualTo(DeliveryStatus.PENDING);
        reopen(c -> c.maxDeliveries(1));
        Delivery again = bus.receive(BOB, 1).getFirst();
        assertThat(again.attempt()).as("the released attempt did not count").isEqualTo(1);
        bus.nack(BOB, again.id(), Duration.ZERO);
        assertThat(statusOf(sent.id(), BOB)).as("one delivery allowed, and used now").isEqualTo(DeliveryStatus.DEAD_LETTERED);
    }

    @Test
    void anObserver_isToldOfEverySendOnceDurable_duplicatesMarked() {
        List<String> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        bus.observeSends((request, result) -> seen.add(request.content() + (result.duplicate() ? " again" : "")));
        SendRequest keyed = SendRequest.builder(ALICE, Address.agent(BOB)).content("\"k\"").idempotencyKey("k-1").build();

        send(ALICE, Address.agent(BOB), "\"one\"");
        bus.send(keyed);
        bus.send(keyed);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5); // told on the completing thread
        while (seen.size() < 3 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }

        assertThat(seen).containsExactly("\"one\"", "\"k\"", "\"k\" again");
        bus.observeSends((request, result) -> {
            throw new IllegalStateException("a broken observer");
        });
        assertThat(send(ALICE, Address.agent(BOB), "\"two\"").recipients()).as("the send stands").isEqualTo(1);
    }

    @Test
    void anObserver_isToldOfDeliveriesDeadLetteredAsTheirLastLeaseRanOut_notOfNackedOnes() {
        reopen(c -> c.maxDeliveries(1));
        List<String> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        bus.observeDeadLetters((agent, id) -> seen.add(agent.value() + " " + id));
        MessageId expiring = send(ALICE, Address.agent(BOB), "1").id();
        MessageId nacked = send(ALICE, Address.agent(BOB), "2").id();
        bus.receive(BOB, 2, Duration.ofSeconds(1), Duration.ZERO);

        assertThat(bus.nack(BOB, nacked, Duration.ZERO)).as("its answer says so").isEqualTo(DeliveryStatus.DEAD_LETTERED);
        clock.advance(Duration.ofSeconds(2));
        runTimers();

        assertThat(statusOf(expiring, BOB)).isEqualTo(DeliveryStatus.DEAD_LETTERED);
        assertThat(seen).containsExactly("bob " + expiring);
    }

    @Test
    void aLateRelease_leavesALaterLeaseOfTheSameMessageAlone() {
        send(ALICE, Address.agent(BOB), "1");
        Delivery first = bus.receive(BOB, 1, Duration.ofSeconds(1), Duration.ZERO).getFirst();
        clock.advance(Duration.ofSeconds(2));
        runTimers(); // the first lease ran out
        Delivery second = bus.receive(BOB, 1).getFirst();

        AckResult late = MessageBus.await(bus.releaseAsync(BOB, List.of(first)));

        assertThat(second.attempt()).isEqualTo(2);
        assertThat(late.notHeld()).as("the second receiver's lease is not the first's to give back").containsExactly(first.id());
        assertThat(statusOf(first.id(), BOB)).isEqualTo(DeliveryStatus.LEASED);
        assertThat(bus.ackAsync(BOB, List.of(second.id())).join().acked()).containsExactly(second.id());
        bus.deleteInbox(BOB);
        assertThat(bus.releaseAsync(BOB, List.of(second)).join().notHeld()).as("a deleted inbox: nothing to give back, "
                + "and no exception").containsExactly(second.id());
    }

    @Test
    void aCancelledLongPoll_leavesTheLine_andLeasesNothing() {
        CompletableFuture<List<Delivery>> gone = bus.receiveAsync(BOB, 5, LEASE, Duration.ofSeconds(30));
        assertThat(bus.inboxStats(BOB).waitingReceivers()).isEqualTo(1);

        gone.cancel(false);
        SendResult sent = send(ALICE, Address.agent(BOB), "after the receiver left");

        assertThat(bus.inboxStats(BOB).waitingReceivers()).isZero();
        assertThat(statusOf(sent.id(), BOB)).isEqualTo(DeliveryStatus.PENDING);
        assertThat(bus.receive(BOB, 5)).singleElement().satisfies(d -> assertThat(d.attempt()).isEqualTo(1));
    }

    @Test
    void nack_withDelay_redeliversOnlyAfterTheDelay() {
        SendResult sent = send(ALICE, Address.agent(BOB), "1");
        bus.receive(BOB, 1);

        bus.nack(BOB, sent.id(), Duration.ofSeconds(10));
        assertThat(statusOf(sent.id(), BOB)).isEqualTo(DeliveryStatus.DELAYED);
        clock.advance(Duration.ofSeconds(9));
        runTimers();
        assertThat(bus.receive(BOB, 1)).isEmpty();
        clock.advance(Duration.ofSeconds(1));
        runTimers();

        assertThat(bus.receive(BOB, 1)).hasSize(1);
    }

    @Test
    void nack_answersWhereTheDeliveryWent_deadLetteredOnTheLastAttempt() {
        reopen(c -> c.maxDeliveries(3));
        SendResult sent = send(ALICE, Address.agent(BOB), "1");
        bus.receive(BOB, 1);
        assertThat(bus.nack(BOB, sent.id(), Duration.ZERO)).isEqualTo(DeliveryStatus.PENDING);
        bus.receive(BOB, 1);
        assertThat(bus.nack(BOB, sent.id(), Duration.ofSeconds(1))).isEqualTo(DeliveryStatus.DELAYED);
        clock.advance(Duration.ofSeconds(1));
        runTimers();
        bus.receive(BOB, 1);

        assertThat(bus.nack(BOB, sent.id(), Duration.ZERO)).isEqualTo(DeliveryStatus.DEAD_LETTERED);
        assertThat(statusOf(sent.id(), BOB)).isEqualTo(DeliveryStatus.DEAD_LETTERED);
    }

    @Test
    void nack_ofMessageNotLeased_isLeaseNotHeld() {
        SendResult sent = send(ALICE, Address.agent(BOB), "1");
        assertThatThrownBy(() -> bus.nack(BOB, sent.id(), Duration.ZERO))
                .isInstanceOfSatisfying(SwarmbusException.class,
                        e -> assertThat(e.code()).isEqualTo(ErrorCode.LEASE_NOT_HELD));
    }

    @Test
    void maxDeliveries_movesTheMessageToTheDeadLetterQueue_andReplayBringsItBack() {
        reopen(c -> c.maxDeliveries(2));
        SendResult sent = send(ALICE, Address.agent(BOB), "poison");
        bus.receive(BOB, 1);
        bus.nack(BOB, sent.id(), Duration.ZERO);
        bus.receive(BOB, 1, Duration.ofSeconds(1), Duration.ZERO);
        clock.advance(Duration.ofSeconds(2));
        runTimers();

        assertThat(bus.receive(BOB, 1)).isEmpty();
        assertThat(bus.deadLetters(BOB)).singleElement()
                .satisfies(r -> assertThat(r.message().id()).isEqualTo(sent.id()));
        assertThat(statusOf(sent.id(), BOB)).isEqualTo(DeliveryStatus.DEAD_LETTERED);
        assertThat(bus.inboxStats(BOB).deadLetters()).isEqualTo(1);

        bus.replay(BOB, sent.id());

        assertThat(bus.deadLetters(BOB)).isEmpty();
        assertThat(bus.receive(BOB, 1)).singleElement().satisfies(d -> assertThat(d.attempt()).isEqualTo(1));
    }

    @Test
    void replay_ofADeadLetterPastItsTtl_isInvalidState_andLeavesItDead() {
        reopen(c -> c.maxDeliveries(1));
        SendResult sent = bus.send(SendRequest.builder(ALICE, Address.agent(BOB)).content("stale")
                .ttl(Duration.ofSeconds(5)).build());
        bus.receive(BOB, 1);
        bus.nack(BOB, sent.id(), Duration.ZERO);
        clock.advance(Duration.ofSeconds(5));

        assertThatThrownBy(() -> bus.replay(BOB, sent.id()))
                .isInstanceOfSatisfying(SwarmbusException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCode.INVALID_STATE);
                    assertThat(e.getMessage()).contains("expired");
                });
        assertThat(statusOf(sent.id(), BOB)).isEqualTo(DeliveryStatus.DEAD_LETTERED);
    }

    @Test
    void replay_ofMessageNotDead_isNotFound() {
        SendResult sent = send(ALICE, Address.agent(BOB), "1");
        assertThatThrownBy(() -> bus.replay(BOB, sent.id()))
                .isInstanceOfSatisfying(SwarmbusException.class,
                        e -> assertThat(e.code()).isEqualTo(ErrorCode.NOT_FOUND));
    }

    // ---------------------------------------------------------------- ttl, idempotency

    @Test
    void ttl_expiredMessagesAreNotDelivered() {
        SendResult shortLived = bus.send(SendRequest.builder(ALICE, Address.agent(BOB)).content("old")
                .ttl(Duration.ofSeconds(5)).build());
        send(ALICE, Address.agent(BOB), "fresh");

        clock.advance(Duration.ofSeconds(5));

        assertThat(statusOf(shortLived.id(), BOB)).isEqualTo(DeliveryStatus.EXPIRED);
        assertThat(contents(bus.receive(BOB, 10))).containsExactly("fresh");
        assertThat(bus.stats().expired()).isEqualTo(1);
        assertThat(bus.inboxStats(BOB).pending()).isZero();
    }

    /**
     * Regression: an inbox's pending count (an agent's info, the swarmbus_inbox_pending gauge)
     * counted messages past their TTL until the agent next received.
     */
    @Test
    void inboxStats_leaveOutMessagesPastTheirTtl_leasedOnesBackAfterIt_andAfterReopening() {
        SendResult leased = ttl("leased", 10);
        SendResult old = ttl("old", 5);
        send(ALICE, Address.agent(BOB), "fresh");
        ttl("later", 40);
        bus.receive(BOB, 1, LEASE, Duration.ZERO);
        assertThat(bus.inboxStats(BOB).pending()).isEqualTo(3);

        clock.advance(Duration.ofSeconds(5));
        assertThat(bus.inboxStats(BOB).pending()).isEqualTo(2);
        assertThat(statusOf(old.id(), BOB)).isEqualTo(DeliveryStatus.EXPIRED);
        assertThat(bus.stats().expired()).isEqualTo(1);
        clock.advance(Duration.ofSeconds(25));
        runTimers(); // the lease ends, 20 s after the message's TTL
        assertThat(bus.inboxStats(BOB)).satisfies(s -> {
            assertThat(s.pending()).isEqualTo(2);
            assertThat(s.leased()).isZero();
        });
        assertThat(statusOf(leased.id(), BOB)).isEqualTo(DeliveryStatus.EXPIRED);
        reopen();
        clock.advance(Duration.ofSeconds(10));

        assertThat(bus.inboxStats(BOB).pending()).as("after reopening").isEqualTo(1);
        assertThat(contents(bus.receive(BOB, 10))).containsExactly("fresh");
    }

    private SendResult ttl(String content, int seconds) {
        return bus.send(SendRequest.builder(ALICE, Address.agent(BOB)).content(content)
                .ttl(Duration.ofSeconds(seconds)).build());
    }

    @Test
    void idempotentSend_insideTheWindow_returnsTheFirstId() {
        SendRequest request = SendRequest.builder(ALICE, Address.agent(BOB)).content("once")
                .idempotencyKey("k-1").build();

        SendResult first = bus.send(request);
        SendResult again = bus.send(request);

        assertThat(again.id()).isEqualTo(first.id());
        assertThat(again.duplicate()).isTrue();
        assertThat(bus.receive(BOB, 10)).hasSize(1);
    }

    @Test
    void idempotentSend_sameKeyFromAnotherSender_isNotADuplicate() {
        SendResult a = bus.send(SendRequest.builder(ALICE, Address.agent(BOB)).content("1").idempotencyKey("k").build());
        SendResult c = bus.send(SendRequest.builder(CAROL, Address.agent(BOB)).content("1").idempotencyKey("k").build());

        assertThat(c.id()).isNotEqualTo(a.id());
    }

    @Test
    void idempotentSend_afterTheWindow_isANewMessage() {
        SendRequest request = SendRequest.builder(ALICE, Address.agent(BOB)).content("once")
                .idempotencyKey("k-1").build();
        SendResult first = bus.send(request);

        clock.advance(Duration.ofMinutes(10));
        SendResult later = bus.send(request);

        assertThat(later.id()).isNotEqualTo(first.id());
        assertThat(later.duplicate()).isFalse();
    }

    @Test
    void idempotency_survivesRestart() {
        SendRequest request = SendRequest.builder(ALICE, Address.agent(BOB)).content("once")
                .idempotencyKey("k-1").build();
        SendResult first = bus.send(request);

        reopen();

        assertThat(bus.send(request).id()).isEqualTo(first.id());
    }

    @Test
    void idempotency_ofADeletedSender_isForgotten_soItsIdRegisteredAgainStartsAfresh() {
        SendResult first = bus.send(keyed(ALICE, "order-1", "from the first alice"));
        bus.deleteInbox(ALICE);
        bus.createInbox(ALICE);

        SendResult again = bus.send(keyed(ALICE, "order-1", "from the second alice"));

        assertThat(again.duplicate()).isFalse();
        assertThat(again.id()).isNotEqualTo(first.id());
        assertThat(contents(bus.receive(BOB, 10))).containsExactly("from the first alice", "from the second alice");
    }

    @Test
    void idempotency_ofADeletedSender_staysForgottenAfterJournalReplayAndAfterASnapshot() {
        bus.send(keyed(ALICE, "k-1", "1"));
        bus.send(keyed(ALICE, "k-2", "2"));
        bus.deleteInbox(ALICE);
        bus.createInbox(ALICE);

        ((Engine) bus).abandon(); // no snapshot: the next open replays the journal
        bus = MessageBus.open(config().build());
        assertThat(bus.send(keyed(ALICE, "k-1", "1 again")).duplicate()).as("after journal replay").isFalse();
        bus.snapshot();
        reopen();
        assertThat(bus.send(keyed(ALICE, "k-2", "2 again")).duplicate()).as("after a snapshot").isFalse();
    }

    private static SendRequest keyed(AgentId from, String key, String content) {
        return SendRequest.builder(from, Address.agent(BOB)).content(content).idempotencyKey(key).build();
    }

    private static SendRequest copyTo(AgentId to, String key) {
        return SendRequest.builder(ALICE, Address.agent(to)).content("copy").idempotencyKeyPerRecipient(key).build();
    }

    /**
     * Regression: the copies of a broadcast narrowed by role were keyed {@code key/agent} among
     * the sender's own keys, so a direct send keyed {@code K/bob} and the copy for bob of a
     * broadcast keyed {@code K} were taken for one another.
     */
    @Test
    void idempotency_aKeyPerRecipient_isApartFromTheSendersOwnKeys_alsoAfterReplayAndASnapshot() {
        SendResult copy = bus.send(copyTo(BOB, "K"));
        SendResult direct = bus.send(keyed(ALICE, "K/bob", "direct"));
        SendResult plain = bus.send(keyed(ALICE, "K", "plain"));
        SendResult otherCopy = bus.send(copyTo(CAROL, "K"));
        SendResult directFirst = bus.send(keyed(ALICE, "L/bob", "direct first"));
        SendResult copyAfter = bus.send(copyTo(BOB, "L"));

        assertThat(List.of(direct, plain, otherCopy, copyAfter)).extracting(SendResult::duplicate)
                .containsOnly(false);
        assertThat(contents(bus.receive(BOB, 10))).containsExactly("copy", "direct", "plain", "direct first", "copy");
        for (String when : List.of("after journal replay", "after a snapshot")) {
            if (when.equals("after journal replay")) {
                ((Engine) bus).abandon();
                bus = MessageBus.open(config().build());
            } else {
                bus.snapshot();
                reopen();
            }
            assertThat(bus.send(copyTo(BOB, "K")).id()).as(when).isEqualTo(copy.id());
            assertThat(bus.send(keyed(ALICE, "K/bob", "direct")).id()).as(when).isEqualTo(direct.id());
            assertThat(bus.send(keyed(ALICE, "K", "plain")).id()).as(when).isEqualTo(plain.id());
            assertThat(bus.send(copyTo(CAROL, "K")).id()).as(when).isEqualTo(otherCopy.id());
            assertThat(bus.send(keyed(ALICE, "L/bob", "direct first")).id()).as(when).isEqualTo(directFirst.id());
            assertThat(bus.send(copyTo(BOB, "L")).id()).as(when).isEqualTo(copyAfter.id());
        }
        assertThatThrownBy(() -> SendRequest.builder(ALICE, Address.group("team")).content("1")
                .idempotencyKeyPerRecipient("K").build()).isInstanceOf(SwarmbusException.class);
    }

    /**
     * A copy journaled before keys had scopes (keyed {@code K/bob} among the sender's own keys) is
     * still a duplicate of its retry, so that a retry across the upgrade sends nothing twice.
     */
    @Test
    void idempotency_aCopyJournaledBeforeKeyScopes_isADuplicateOfItsRetry_alsoAfterASnapshot() {
        bus.close();
        Message old = new Message(new MessageId(clock.millis() << MessageId.COUNTER_BITS), ALICE, Address.agent(BOB),
                MessageType.CHAT, "\"copy\"", Priority.MEDIUM, Optional.empty(), Optional.empty(), Optional.empty(),
                java.util.Map.of(), clock.instant(), Optional.empty(), Optional.of("K/bob"));
        try (io.swarmbus.storage.FileJournal journal = io.swarmbus.storage.FileJournal.open(config().build().journal(),
                new io.swarmbus.storage.DurabilityListener() {
                    @Override
                    public void durable(long seq) {}

                    @Override
                    public void failed(Throwable cause) {}
                })) {
            journal.recover(new io.swarmbus.storage.RecoveryTarget() {
                @Override
                public void reset() {}

                @Override
                public void snapshotRecord(java.nio.ByteBuffer payload) {}

                @Override
                public void journalRecord(long seq, java.nio.ByteBuffer payload) {}
            });
            // As the journal held it then (EventCodecTest checks the bytes).
            journal.append(new EventCodec().encode(new Event.Sent(old, List.of(BOB), 0, KeyScope.UNSCOPED, List.of())),
                    true);
        }
        bus = MessageBus.open(config().build());

        assertThat(bus.send(copyTo(BOB, "K")).id()).isEqualTo(old.id());
        assertThat(bus.send(copyTo(CAROL, "K")).duplicate()).isFalse();
        bus.snapshot();
        reopen();
        assertThat(bus.send(copyTo(BOB, "K")).id()).as("after a snapshot").isEqualTo(old.id());
        assertThat(contents(bus.receive(BOB, 10))).containsExactly("\"copy\"");
    }

    // ---------------------------------------------------------------- long poll

    @Test
    void longPoll_wakesAsSoonAsAMessageArrives() throws Exception {
        CompletableFuture<List<Delivery>> waiting = bus.receiveAsync(BOB, 5, LEASE, Duration.ofSeconds(30));
        assertThat(waiting).isNotDone();

        long started = System.nanoTime();
        send(ALICE, Address.agent(BOB), "wake");
        List<Delivery> got = waiting.get(5, TimeUnit.SECONDS);

        assertThat(contents(got)).containsExactly("wake");
        assertThat(System.nanoTime() - started).isLessThan(TimeUnit.SECONDS.toNanos(5));
        assertThat(bus.inboxStats(BOB).waitingReceivers()).isZero();
    }

    @Test
    void longPoll_returnsEmptyWhenTheWaitEnds() throws Exception {
        CompletableFuture<List<Delivery>> waiting = bus.receiveAsync(BOB, 5, LEASE, Duration.ofMillis(50));

        assertThat(waiting.get(5, TimeUnit.SECONDS)).isEmpty();
        send(ALICE, Address.agent(BOB), "later");
        assertThat(bus.receive(BOB, 5)).hasSize(1);
    }

    @Test
    void longPoll_servesWaitersInArrivalOrder() throws Exception {
        CompletableFuture<List<Delivery>> first = bus.receiveAsync(BOB, 1, LEASE, Duration.ofSeconds(30));
        CompletableFuture<List<Delivery>> second = bus.receiveAsync(BOB, 1, LEASE, Duration.ofSeconds(30));

        send(ALICE, Address.agent(BOB), "1");
        assertThat(contents(first.get(5, TimeUnit.SECONDS))).containsExactly("1");
        assertThat(second).isNotDone();
        send(ALICE, Address.agent(BOB), "2");
        assertThat(contents(second.get(5, TimeUnit.SECONDS))).containsExactly("2");
    }

    @Test
    void close_releasesWaitingReceivers() throws Exception {
        CompletableFuture<List<Delivery>> waiting = bus.receiveAsync(BOB, 5, LEASE, Duration.ofSeconds(30));
        assertThat(bus.unavailable()).isEmpty();
        bus.close();
        assertThat(waiting.get(5, TimeUnit.SECONDS)).isEmpty();
        assertThat(bus.unavailable()).contains("the message bus is closed");
        bus = MessageBus.open(config().build());
    }

    // ---------------------------------------------------------------- history

    @Test
    void history_filtersByAgentPeerTypeTimeAndConversation() {
        Instant start = clock.instant();
        send(ALICE, Address.agent(BOB), "a->b");
        clock.advance(Duration.ofSeconds(1));
        bus.send(SendRequest.builder(BOB, Address.agent(ALICE)).content("b->a").type(MessageType.COMMAND)
                .conversationId("c-1").build());
        clock.advance(Duration.ofSeconds(1));
        send(CAROL, Address.agent(ALICE), "c->a");

        assertThat(historyContents(HistoryQuery.all())).containsExactly("c->a", "b->a", "a->b");
        assertThat(historyContents(HistoryQuery.all().withAgent(BOB))).containsExactly("b->a", "a->b");
        assertThat(historyContents(HistoryQuery.all().withAgent(ALICE).withPeer(CAROL))).containsExactly("c->a");
        assertThat(historyContents(HistoryQuery.all().withType(MessageType.COMMAND))).containsExactly("b->a");
        assertThat(historyContents(HistoryQuery.all().withConversation("c-1"))).containsExactly("b->a");
        assertThat(historyContents(HistoryQuery.all().between(start.plusSeconds(1), start.plusSeconds(2))))
                .containsExactly("b->a");
        assertThat(historyContents(HistoryQuery.all().withLimit(1))).containsExactly("c->a");
    }

    @Test
    void history_involving_findsMessagesOfAnyOfTheAgents_finishedOrNot() {
        send(ALICE, Address.agent(BOB), "a->b");
        send(BOB, Address.agent(ALICE), "b->a");
        MessageBus.await(bus.ackAsync(BOB, bus.receive(BOB, 10).stream().map(Delivery::id).toList()));
        send(CAROL, Address.agent(ALICE), "c->a"); // alice's two stay leased or pending: live, not finished

        assertThat(historyContents(HistoryQuery.all().involving(Set.of(CAROL)))).containsExactly("c->a");
        assertThat(historyContents(HistoryQuery.all().involving(Set.of(BOB, CAROL))))
                .containsExactly("c->a", "b->a", "a->b");
        assertThat(historyContents(HistoryQuery.all().involving(Set.of(BOB)).withPeer(ALICE)))
                .containsExactly("b->a", "a->b");
        assertThat(historyContents(HistoryQuery.all().involving(Set.of()))).isEmpty();
    }

    @Test
    void history_keepsFinishedMessagesOnlyWithinRetention() {
        reopen(c -> c.historyRetention(Duration.ofHours(1)).historyMaxMessages(2));
        List<MessageId> ids = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            ids.add(send(ALICE, Address.agent(BOB), "m" + i).id());
        }
        String pending = "still pending";
        send(ALICE, Address.agent(BOB), pending);
        for (Delivery d : bus.receive(BOB, 3)) {
            bus.ack(BOB, d.id());
        }

        runTimers();
        assertThat(historyContents(HistoryQuery.all())).containsExactly(pending, "m2", "m1");
        clock.advance(Duration.ofHours(2));
        runTimers();

        assertThat(historyContents(HistoryQuery.all())).containsExactly(pending);
        assertThat(bus.message(ids.get(2))).isEmpty();
    }

    @Test
    void history_isNewestFirst_whateverOrderMessagesFinishIn_andSurvivesASnapshot() {
        reopen(c -> c.historyMaxMessages(2));
        MessageId first = send(ALICE, Address.agent(BOB), "first").id();
        MessageId second = send(ALICE, Address.agent(BOB), "second").id();
        MessageId third = send(ALICE, Address.agent(BOB), "third").id();
        bus.receive(BOB, 3);
        bus.ack(BOB, third);
        bus.ack(BOB, first);
        runTimers();

        assertThat(historyContents(HistoryQuery.all())).containsExactly("third", "second", "first");
        assertThat(historyContents(HistoryQuery.all().withLimit(2))).containsExactly("third", "second");
        assertThat(bus.message(first)).get().satisfies(r -> {
            assertThat(r.message().content()).isEqualTo("first");
            assertThat(r.deliveries()).containsExactly(new DeliveryInfo(BOB, DeliveryStatus.ACKED, 1));
        });

        bus.ack(BOB, second);
        bus.snapshot();
        reopen(c -> c.historyMaxMessages(2));
        runTimers();

        // Three finished, two kept: the first to finish ("third") is the first to go.
        assertThat(historyContents(HistoryQuery.all())).containsExactly("second", "first");
        assertThat(bus.message(third)).isEmpty();
        assertThat(bus.stats().retainedMessages()).isEqualTo(2);
    }

    @Test
    void history_keepsNoMoreBytesThanItsLimit_droppingTheOldestFirst() {
        reopen(c -> c.historyMaxBytes(2500));
        for (int i = 0; i < 5; i++) {
            send(ALICE, Address.agent(BOB), i + "x".repeat(999));
        }
        for (Delivery d : bus.receive(BOB, 5)) {
            bus.ack(BOB, d.id());
        }

        assertThat(historyContents(HistoryQuery.all())).extracting(c -> c.charAt(0)).containsExactly('4', '3');
    }

    List<String> historyContents(HistoryQuery query) {
        return bus.history(query).stream().map(r -> r.message().content()).toList();
    }

    // ---------------------------------------------------------------- limits

    @Test
    void send_overTheSizeLimit_isRejectedNamingTheLimit_andNothingIsLost() {
        reopen(c -> c.maxMessageBytes(2048));
        SendResult kept = send(ALICE, Address.agent(BOB), "small");

        assertThatThrownBy(() -> send(ALICE, Address.agent(BOB), "x".repeat(4096)))
                .isInstanceOfSatisfying(SwarmbusException.class,
                        e -> assertThat(e.code()).isEqualTo(ErrorCode.MESSAGE_TOO_LARGE))
                .hasMessageContaining("max_message_bytes=2048");
        assertThat(bus.receive(BOB, 10)).singleElement().satisfies(d -> assertThat(d.id()).isEqualTo(kept.id()));
    }

    @Test
    void send_toAFullInbox_isRejectedNamingTheLimit_andNothingIsLost() {
        reopen(c -> c.maxInboxDepth(2));
        send(ALICE, Address.agent(BOB), "1");
        send(ALICE, Address.agent(BOB), "2");

        assertThatThrownBy(() -> send(ALICE, Address.agent(BOB), "3"))
                .isInstanceOfSatisfying(SwarmbusException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCode.INBOX_FULL);
                    assertThat(e.retriable()).isTrue();
                })
                .hasMessage("inbox 'bob' is full (depth=2, limit max_inbox_depth=2)");
        assertThat(contents(bus.receive(BOB, 10))).containsExactly("1", "2");
    }

    /**
     * Regression: messages past their TTL still counted against max_inbox_depth until the agent
     * next received, so an inbox of expired messages refused every send.
     */
    @Test
    void send_toAnInboxFullOfExpiredMessages_isAccepted() {
        reopen(c -> c.maxInboxDepth(2));
        for (String content : List.of("1", "2")) {
            bus.send(SendRequest.builder(ALICE, Address.agent(BOB)).content(content).ttl(Duration.ofSeconds(5)).build());
        }
        clock.advance(Duration.ofSeconds(5));

        send(ALICE, Address.agent(BOB), "fresh");

        assertThat(bus.inboxStats(BOB).pending()).isEqualTo(1);
        assertThat(bus.stats().expired()).isEqualTo(2);
        assertThat(contents(bus.receive(BOB, 10))).containsExactly("fresh");
    }

    /**
     * Regression: a full inbox was searched for messages past their TTL at most once a second, so
     * a send refused just before one expired was refused again for up to a second after.
     */
    @Test
    void send_toAFullInbox_isAcceptedAsSoonAsAMessageInItExpires() {
        reopen(c -> c.maxInboxDepth(2));
        bus.send(SendRequest.builder(ALICE, Address.agent(BOB)).content("1").ttl(Duration.ofMillis(500)).build());
        bus.send(SendRequest.builder(ALICE, Address.agent(BOB)).content("2").ttl(Duration.ofMillis(700)).build());
        assertThatThrownBy(() -> send(ALICE, Address.agent(BOB), "too soon")).isInstanceOf(InboxFullException.class);
        clock.advance(Duration.ofMillis(499));
        assertThatThrownBy(() -> send(ALICE, Address.agent(BOB), "still too soon"))
                .isInstanceOf(InboxFullException.class);

        clock.advance(Duration.ofMillis(1));
        send(ALICE, Address.agent(BOB), "the first expired");
        assertThatThrownBy(() -> send(ALICE, Address.agent(BOB), "full again")).isInstanceOf(InboxFullException.class);
        clock.advance(Duration.ofMillis(200));
        send(ALICE, Address.agent(BOB), "the second expired");

        assertThat(bus.stats().expired()).isEqualTo(2);
        assertThat(contents(bus.receive(BOB, 10))).containsExactly("the first expired", "the second expired");
    }

    /**
     * Regression: a group, topic or broadcast send was refused whole when one inbox it would reach
     * was full, so one agent that stopped receiving stopped everyone's broadcasts.
     */
    @Test
    void aFanOutSend_passesOverAFullInbox_reachesTheRest_andIsRefusedOnlyWhenAllAreFull() {
        reopen(c -> c.maxInboxDepth(1));
        bus.createGroup("team", List.of(BOB, CAROL));
        send(ALICE, Address.agent(BOB), "fills bob");

        SendResult toGroup = send(ALICE, Address.group("team"), "to the team");

        assertThat(toGroup.recipients()).isEqualTo(1);
        assertThat(toGroup.passedOver()).containsExactly(BOB);
        assertThat(contents(bus.receive(CAROL, 10))).containsExactly("to the team");
        assertThat(bus.message(toGroup.id()).orElseThrow().deliveries()).extracting(DeliveryInfo::recipient)
                .containsExactly(CAROL);
        // carol's copy is leased, so her inbox is full too: now every inbox the group reaches is.
        assertThatThrownBy(() -> send(ALICE, Address.group("team"), "to no one"))
                .isInstanceOfSatisfying(SwarmbusException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.INBOX_FULL));
        SendResult toAll = send(CAROL, Address.broadcast(), "to all");
        assertThat(toAll.passedOver()).containsExactly(BOB);
        assertThat(toAll.recipients()).as("alice").isEqualTo(1);
        assertThat(contents(bus.receive(BOB, 10))).containsExactly("fills bob");
    }

    /**
     * Regression: a repeat of a fan-out send answered without the inboxes the first had passed
     * over, as if it had reached everyone.
     */
    @Test
    void aRepeatOfAFanOutSend_namesTheInboxesTheFirstPassedOver_alsoAfterReplayAndASnapshot() {
        reopen(c -> c.maxInboxDepth(1));
        send(ALICE, Address.agent(BOB), "fills bob");
        SendRequest request = SendRequest.builder(ALICE, Address.broadcast()).content("to all")
                .idempotencyKey("all-1").build();
        SendResult first = bus.send(request);
        bus.receive(BOB, 10); // room again: a repeat still sends nothing, and says what the first did

        SendResult again = bus.send(request);
        ((Engine) bus).abandon();
        bus = MessageBus.open(config().maxInboxDepth(1).build());
        SendResult afterReplay = bus.send(request);
        bus.snapshot();
        reopen(c -> c.maxInboxDepth(1));
        SendResult afterSnapshot = bus.send(request);

        assertThat(first.passedOver()).containsExactly(BOB);
        assertThat(List.of(again, afterReplay, afterSnapshot)).allSatisfy(repeat -> {
            assertThat(repeat.duplicate()).isTrue();
            assertThat(repeat.id()).isEqualTo(first.id());
            assertThat(repeat.recipients()).isEqualTo(first.recipients());
            assertThat(repeat.passedOver()).containsExactly(BOB);
        });
        assertThat(bus.stats().notReached()).as("a repeat passes over nothing itself").isZero();
    }

    @Test
    void receive_stopsBeforeMaxReceiveBytes_leavingTheRestQueuedUntouched() {
        reopen(c -> c.maxReceiveBytes(1 << 20));
        List<MessageId> sent = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            sent.add(send(ALICE, Address.agent(BOB), i + "x".repeat(300 << 10)).id());
        }

        List<MessageId> received = new ArrayList<>();
        List<Integer> batches = new ArrayList<>();
        while (received.size() < sent.size()) {
            List<Delivery> got = bus.receive(BOB, 1000);
            assertThat(got).isNotEmpty();
            batches.add(got.size());
            got.forEach(d -> received.add(d.id()));
            assertThat(got).allSatisfy(d -> assertThat(d.attempt()).isEqualTo(1));
            // Those not received yet were neither leased nor counted as an attempt.
            for (MessageId waiting : sent.subList(received.size(), sent.size())) {
                assertThat(bus.message(waiting).orElseThrow().deliveries()).singleElement().satisfies(d -> {
                    assertThat(d.status()).isEqualTo(DeliveryStatus.PENDING);
                    assertThat(d.attempts()).isZero();
                });
            }
        }

        // Three of about 300 KiB fit in 1 MiB, a fourth would not.
        assertThat(batches).containsExactly(3, 3, 3, 1);
        assertThat(received).containsExactlyElementsOf(sent);
        assertThat(bus.inboxStats(BOB).leased()).isEqualTo(10);
    }

    @Test
    void aLongPollWokenByManyMessagesAtOnce_stopsBeforeMaxReceiveBytesToo() throws Exception {
        reopen(c -> c.maxReceiveBytes(1 << 20));
        for (int i = 0; i < 5; i++) {
            send(ALICE, Address.agent(BOB), i + "x".repeat(300 << 10));
        }
        assertThat(bus.receive(BOB, 3, Duration.ofSeconds(1), Duration.ZERO)).hasSize(3);
        assertThat(bus.receive(BOB, 3, Duration.ofSeconds(1), Duration.ZERO)).hasSize(2);
        CompletableFuture<List<Delivery>> waiting = bus.receiveAsync(BOB, 1000, LEASE, Duration.ofSeconds(30));
        assertThat(waiting).isNotDone();

        clock.advance(Duration.ofSeconds(1)); // all five leases end together
        runTimers();

        assertThat(contents(waiting.get(5, TimeUnit.SECONDS))).extracting(c -> c.charAt(0))
                .containsExactly('0', '1', '2');
        assertThat(contents(bus.receive(BOB, 1000))).extracting(c -> c.charAt(0)).containsExactly('3', '4');
    }

    @Test
    void aMessageLargerThanMaxReceiveBytes_stillComes_alone_afterJournalReplay() {
        largerThanTheBoundComesAlone(false);
    }

    @Test
    void aMessageLargerThanMaxReceiveBytes_stillComes_alone_afterASnapshot() {
        largerThanTheBoundComesAlone(true);
    }

    /**
     * Only a message accepted under larger limits can exceed the bound, as the bound is at least
     * max_message_bytes: its size is the one measured then, whether replayed from the journal or
     * restored from a snapshot.
     */
    private void largerThanTheBoundComesAlone(boolean snapshot) {
        reopen(c -> c.maxMessageBytes(2 << 20).maxReceiveBytes(2 << 20).snapshotOnClose(snapshot));
        MessageId large = send(ALICE, Address.agent(BOB), "x".repeat(3 << 19)).id();
        MessageId small = send(ALICE, Address.agent(BOB), "small").id();

        reopen(c -> c.maxReceiveBytes(1 << 20));

        assertThat(bus.receive(BOB, 10)).extracting(Delivery::id).containsExactly(large);
        assertThat(bus.receive(BOB, 10)).extracting(Delivery::id).containsExactly(small);
    }

    @Test
    void receive_withInvalidArguments_isInvalid() {
        assertThatThrownBy(() -> bus.receive(BOB, 0)).isInstanceOfSatisfying(SwarmbusException.class,
                e -> assertThat(e.field()).contains("max_messages"));
        assertThatThrownBy(() -> bus.receive(BOB, 1, Duration.ZERO, Duration.ZERO))
                .isInstanceOfSatisfying(SwarmbusException.class,
                        e -> assertThat(e.field()).contains("visibility_timeout"));
        assertThatThrownBy(() -> bus.receive(BOB, 1, LEASE, Duration.ofSeconds(-1)))
                .isInstanceOfSatisfying(SwarmbusException.class, e -> assertThat(e.field()).contains("timeout"));
    }

    // ---------------------------------------------------------------- recovery

    @Test
    void reopen_restoresInboxesGroupsTopicsAndEveryDeliveryState() {
        reopenRestoresEverything(false);
    }

    @Test
    void reopen_fromSnapshot_restoresInboxesGroupsTopicsAndEveryDeliveryState() {
        reopenRestoresEverything(true);
    }

    private void reopenRestoresEverything(boolean snapshotFirst) {
        reopen(c -> c.maxDeliveries(1));
        bus.createGroup("team", List.of(BOB, CAROL));
        bus.subscribe(CAROL, "news");
        MessageId acked = send(ALICE, Address.agent(BOB), "acked").id();
        MessageId leased = send(ALICE, Address.agent(BOB), "leased").id();
        MessageId dead = send(ALICE, Address.agent(CAROL), "dead").id();
        MessageId pendingHigh = send(ALICE, BOB, "pending-high", Priority.HIGH).id();
        List<Delivery> got = bus.receive(BOB, 2);
        assertThat(got).extracting(Delivery::id).containsExactly(pendingHigh, acked);
        bus.ack(BOB, acked);
        bus.nack(BOB, pendingHigh, Duration.ZERO);
        bus.receive(BOB, 1, Duration.ofMinutes(1), Duration.ZERO);
        bus.receive(CAROL, 1);
        bus.nack(CAROL, dead, Duration.ZERO);
        send(ALICE, Address.group("team"), "team");
        send(ALICE, Address.topic("news"), "news");
        if (snapshotFirst) {
            bus.snapshot();
        }

        reopen(c -> c.maxDeliveries(1));

        assertThat(bus.groupMembers("team")).contains(Set.of(BOB, CAROL));
        assertThat(bus.subscribers("news")).containsExactly(CAROL);
        assertThat(statusOf(acked, BOB)).isEqualTo(DeliveryStatus.ACKED);
        assertThat(statusOf(leased, BOB)).isEqualTo(DeliveryStatus.LEASED);
        assertThat(statusOf(pendingHigh, BOB)).isEqualTo(DeliveryStatus.DEAD_LETTERED);
        assertThat(bus.deadLetters(CAROL)).extracting(r -> r.message().id()).containsExactly(dead);
        List<Delivery> toBob = bus.receive(BOB, 10);
        List<Delivery> toCarol = bus.receive(CAROL, 10);
        assertThat(contents(toBob)).containsExactly("team");
        assertThat(contents(toCarol)).containsExactly("team", "news");
        toBob.forEach(d -> bus.ack(BOB, d.id()));
        toCarol.forEach(d -> bus.ack(CAROL, d.id()));
        clock.advance(Duration.ofMinutes(1));
        runTimers();
        // In message id order (the order they were sent), not the order they died: pages go by id.
        assertThat(bus.deadLetters(BOB)).extracting(r -> r.message().id()).containsExactly(leased, pendingHigh);
        assertThat(bus.deadLetters(BOB, Optional.of(leased), 10)).extracting(r -> r.message().id())
                .containsExactly(pendingHigh);
        assertThat(bus.deadLetters(BOB, Optional.empty(), 1)).extracting(r -> r.message().id()).containsExactly(leased);
        MessageId next = send(ALICE, Address.agent(BOB), "after").id();
        assertThat(next.compareTo(leased)).isPositive();
    }

    @Test
    void reopen_afterManySnapshots_compactsTheJournal() throws Exception {
        reopen(c -> c.segmentBytes(1 << 20));
        String body = "x".repeat(1000);
        for (int round = 0; round < 4; round++) {
            for (int i = 0; i < 1500; i++) {
                send(ALICE, Address.agent(BOB), body);
            }
            for (List<Delivery> got = bus.receive(BOB, 1000); !got.isEmpty(); got = bus.receive(BOB, 1000)) {
                MessageBus.await(bus.ackAsync(BOB, got.stream().map(Delivery::id).toList()));
            }
            bus.snapshot();
        }
        long segments;
        try (var files = java.nio.file.Files.list(dir.resolve("journal"))) {
            segments = files.count();
        }

        reopen();

        assertThat(segments).isLessThanOrEqualTo(3);
        assertThat(bus.recovery().clean()).isTrue();
        assertThat(bus.inboxStats(BOB).depth()).isZero();
        assertThat(bus.history(HistoryQuery.all().withLimit(10_000))).hasSize(6000);
    }
}
