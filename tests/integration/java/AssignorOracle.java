// tests/integration/java/AssignorOracle.java — the Java client's own
// assignors and ConsumerProtocol as the oracle for test_assignors_java.c.
// Run with the test bed's Kafka jars: java -cp 'LIBS/*' AssignorOracle.java
//
// stdin, one group per block:
//   case ID
//   topic NAME PARTITIONS
//   member ID INSTANCE|- GENERATION TOPIC,TOPIC,...|- TOPIC:P,TOPIC:P,...|-
//   end
// stdout, for each block:
//   assign ID ASSIGNOR MEMBER TOPIC-P TOPIC-P ...   (sorted; range, roundrobin,
//                                                   cooperative-sticky)
//   sub ID MEMBER VERSION HEX    Subscription bytes at versions 0, 1 and 3,
//                                cooperative-sticky user data
//   asg ID MEMBER HEX            Assignment bytes of its cooperative-sticky share
// The members go into a HashMap in input order, as ConsumerCoordinator
// fills it from the JoinGroup response.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.util.*;

import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Assignment;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.clients.consumer.internals.AbstractPartitionAssignor;
import org.apache.kafka.clients.consumer.internals.ConsumerProtocol;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

public class AssignorOracle {
    static String hex(ByteBuffer b) {
        StringBuilder s = new StringBuilder();
        ByteBuffer d = b.duplicate();
        while (d.hasRemaining())
            s.append(String.format("%02x", d.get()));
        return s.toString();
    }

    static String tps(List<TopicPartition> l) {
        List<TopicPartition> c = new ArrayList<>(l);
        c.sort(Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition));
        StringBuilder s = new StringBuilder();
        for (TopicPartition tp : c)
            s.append(' ').append(tp.topic()).append('-').append(tp.partition());
        return s.toString();
    }

    @SuppressWarnings("removal") // the only way to hand the assignor its generation, as the consumer does
    static ByteBuffer stickyUserData(int generation) {
        CooperativeStickyAssignor a = new CooperativeStickyAssignor();
        a.onAssignment(null, new ConsumerGroupMetadata("g", generation, "m", Optional.empty()));
        return a.subscriptionUserData(new HashSet<>());
    }

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String id = null;
        Map<String, Integer> topics = new LinkedHashMap<>();
        List<String[]> members = new ArrayList<>();
        for (String line; (line = in.readLine()) != null; ) {
            String[] f = line.trim().split(" ");
            switch (f[0]) {
                case "case": id = f[1]; topics.clear(); members.clear(); break;
                case "topic": topics.put(f[1], Integer.parseInt(f[2])); break;
                case "member": members.add(f); break;
                case "end": run(id, topics, members); break;
                default: break;
            }
        }
        System.out.flush();
    }

    static void run(String id, Map<String, Integer> topics, List<String[]> members) {
        Map<String, Subscription> subs = new HashMap<>();
        Set<String> subscribed = new HashSet<>();
        for (String[] m : members) {
            List<String> t = m[4].equals("-") ? new ArrayList<>() : Arrays.asList(m[4].split(","));
            List<TopicPartition> owned = new ArrayList<>();
            if (!m[5].equals("-"))
                for (String tp : m[5].split(",")) {
                    int c = tp.lastIndexOf(':');
                    owned.add(new TopicPartition(tp.substring(0, c), Integer.parseInt(tp.substring(c + 1))));
                }
            int gen = Integer.parseInt(m[3]);
            Subscription s = new Subscription(t, stickyUserData(gen), owned, gen, Optional.empty());
            s.setGroupInstanceId(m[2].equals("-") ? Optional.empty() : Optional.of(m[2]));
            subs.put(m[1], s);
            subscribed.addAll(t);
            for (short v : new short[] {0, 1, 3})
                System.out.println("sub " + id + " " + m[1] + " " + v + " " + hex(ConsumerProtocol.serializeSubscription(s, v)));
        }
        // as AbstractPartitionAssignor.assign(Cluster, ...) passes them
        Map<String, List<PartitionInfo>> partitions = new HashMap<>();
        Node[] none = new Node[0];
        for (Map.Entry<String, Integer> e : topics.entrySet()) {
            if (!subscribed.contains(e.getKey()) || e.getValue() <= 0)
                continue;
            List<PartitionInfo> l = new ArrayList<>();
            for (int p = 0; p < e.getValue(); p++)
                l.add(new PartitionInfo(e.getKey(), p, Node.noNode(), none, none));
            partitions.put(e.getKey(), l);
        }
        AbstractPartitionAssignor[] assignors = {new RangeAssignor(), new RoundRobinAssignor(), new CooperativeStickyAssignor()};
        for (AbstractPartitionAssignor a : assignors) {
            Map<String, List<TopicPartition>> out = a.assignPartitions(partitions, subs);
            for (String[] m : members) {
                List<TopicPartition> l = out.getOrDefault(m[1], new ArrayList<>());
                System.out.println("assign " + id + " " + a.name() + " " + m[1] + tps(l));
                if (a instanceof CooperativeStickyAssignor) {
                    List<TopicPartition> sorted = new ArrayList<>(l);
                    sorted.sort(Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition));
                    System.out.println("asg " + id + " " + m[1] + " " + hex(ConsumerProtocol.serializeAssignment(new Assignment(sorted))));
                }
            }
        }
    }
}
