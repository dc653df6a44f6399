// JavaMember — an Apache Kafka Java client consumer group member for the group
// interop tests (group_harness.py), speaking the same lines as `kcat -G`:
//
//   stdout, one line per message (kcat -f 'MSG %t %p %o %s\n'):
//       MSG <topic> <partition> <offset> <value>
//   stderr, one line per rebalance, kcat's format (plus `lost:`):
//       % Group <group> rebalanced (memberid <id>): assigned: <topic> [<p>], ...
//       % Group <group> rebalanced (memberid <id>): revoked: ... | lost: ...
//   stderr, after each commit that succeeded:
//       % Committed <topic> [<p>] @ <offset>
//
// It commits what it printed (commitSync every --commit-interval-ms, and for
// revoked partitions in onPartitionsRevoked). SIGTERM/SIGINT close it cleanly
// (wakeup, last commit, close = LeaveGroup). Compiled by the harness against
// the test bed's kafka-clients jar; arguments:
//   -b BOOTSTRAP -G GROUP [--name N] [--protocol classic|consumer]
//   [--assignor range|roundrobin|cooperative-sticky|...] [--session-timeout-ms MS]
//   [--commit-interval-ms MS] TOPIC...
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public final class JavaMember implements ConsumerRebalanceListener {
    private final String group;
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final Map<TopicPartition, Long> printed = new HashMap<>();
    private final Map<TopicPartition, Long> committed = new HashMap<>();

    private JavaMember(String group, KafkaConsumer<byte[], byte[]> consumer) {
        this.group = group;
        this.consumer = consumer;
    }

    private static String plist(Collection<TopicPartition> tps) {
        List<TopicPartition> list = new ArrayList<>(tps);
        list.sort((a, b) -> a.topic().equals(b.topic()) ? Integer.compare(a.partition(), b.partition())
                                                        : a.topic().compareTo(b.topic()));
        StringBuilder sb = new StringBuilder();
        for (TopicPartition tp : list) {
            if (sb.length() > 0)
                sb.append(", ");
            sb.append(tp.topic()).append(" [").append(tp.partition()).append("]");
        }
        return sb.toString();
    }

    private void rebalanced(String what, Collection<TopicPartition> tps) {
        String id;
        try {
            id = consumer.groupMetadata().memberId();
        } catch (RuntimeException e) {
            id = "?";
        }
        System.err.println("% Group " + group + " rebalanced (memberid " + id + "): " + what + ": " + plist(tps));
        System.err.flush();
    }

    /** Commits the printed positions of `only` (all if null) that moved. */
    private void commit(Collection<TopicPartition> only) {
        Map<TopicPartition, OffsetAndMetadata> todo = new HashMap<>();
        for (Map.Entry<TopicPartition, Long> e : printed.entrySet()) {
            if ((only == null || only.contains(e.getKey())) && !e.getValue().equals(committed.get(e.getKey())))
                todo.put(e.getKey(), new OffsetAndMetadata(e.getValue()));
        }
        if (todo.isEmpty())
            return;
        try {
            consumer.commitSync(todo);
        } catch (RuntimeException e) {
            System.err.println("% JavaMember: commit failed: " + e);
            return;
        }
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : todo.entrySet()) {
            committed.put(e.getKey(), e.getValue().offset());
            System.err.println("% Committed " + e.getKey().topic() + " [" + e.getKey().partition() + "] @ "
                               + e.getValue().offset());
        }
        System.err.flush();
    }

    private void forget(Collection<TopicPartition> tps) {
        for (TopicPartition tp : tps) {
            printed.remove(tp);
            committed.remove(tp);
        }
    }

    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> revoked) {
        commit(revoked);
        rebalanced("revoked", revoked);
        forget(revoked);
    }

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> assigned) {
        rebalanced("assigned", assigned);
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> lost) {
        rebalanced("lost", lost);
        forget(lost);
    }

    public static void main(String[] argv) throws Exception {
        String bootstrap = null, group = null, name = "java", protocol = "classic", assignor = "range";
        int sessionTimeoutMs = 10000, commitIntervalMs = 1000;
        List<String> topics = new ArrayList<>();
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            switch (a) {
                case "-b": bootstrap = argv[++i]; break;
                case "-G": group = argv[++i]; break;
                case "--name": name = argv[++i]; break;
                case "--protocol": protocol = argv[++i]; break;
                case "--assignor": assignor = argv[++i]; break;
                case "--session-timeout-ms": sessionTimeoutMs = Integer.parseInt(argv[++i]); break;
                case "--commit-interval-ms": commitIntervalMs = Integer.parseInt(argv[++i]); break;
                default:
                    if (a.startsWith("-")) {
                        System.err.println("JavaMember: unknown option " + a);
                        System.exit(2);
                    }
                    topics.add(a);
            }
        }
        if (bootstrap == null || group == null || topics.isEmpty()) {
            System.err.println("usage: JavaMember -b BOOTSTRAP -G GROUP [options] TOPIC...");
            System.exit(2);
        }
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("group.id", group);
        p.put("client.id", name);
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        p.put("group.protocol", protocol);
        if (protocol.equals("classic")) {
            // The consumer protocol takes both from the broker's group configuration.
            p.put("session.timeout.ms", Integer.toString(sessionTimeoutMs));
            p.put("heartbeat.interval.ms", Integer.toString(Math.max(100, sessionTimeoutMs / 5)));
            List<String> classes = new ArrayList<>();
            for (String s : assignor.split(",")) {
                switch (s) {
                    case "range": classes.add("org.apache.kafka.clients.consumer.RangeAssignor"); break;
                    case "roundrobin": classes.add("org.apache.kafka.clients.consumer.RoundRobinAssignor"); break;
                    case "sticky": classes.add("org.apache.kafka.clients.consumer.StickyAssignor"); break;
                    case "cooperative-sticky":
                        classes.add("org.apache.kafka.clients.consumer.CooperativeStickyAssignor");
                        break;
                    default: classes.add(s);
                }
            }
            p.put("partition.assignment.strategy", String.join(",", classes));
        }
        KafkaConsumer<byte[], byte[]> consumer =
            new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        JavaMember m = new JavaMember(group, consumer);
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            consumer.wakeup();
            try {
                closed.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }));
        consumer.subscribe(topics, m);
        long lastCommit = System.nanoTime();
        try {
            while (true) {
                ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
                StringBuilder out = new StringBuilder();
                for (ConsumerRecord<byte[], byte[]> r : records) {
                    String value = r.value() == null ? "NULL" : new String(r.value(), "UTF-8");
                    out.append("MSG ").append(r.topic()).append(' ').append(r.partition()).append(' ')
                       .append(r.offset()).append(' ').append(value).append('\n');
                    m.printed.put(new TopicPartition(r.topic(), r.partition()), r.offset() + 1);
                }
                if (out.length() > 0) {
                    System.out.print(out);
                    System.out.flush();
                }
                if (System.nanoTime() - lastCommit >= commitIntervalMs * 1_000_000L) {
                    m.commit(null);
                    lastCommit = System.nanoTime();
                }
            }
        } catch (WakeupException e) {
            // shutdown hook: close below
        } finally {
            try {
                m.commit(null);
                consumer.close(CloseOptions.timeout(Duration.ofSeconds(10)));
                System.err.println("% JavaMember: closed");
            } finally {
                closed.countDown();
            }
        }
    }
}
