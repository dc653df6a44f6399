"""kafka-python's side of test_consumer_protocol_kafka_python.c.

stdin lines:
  sub HEX    decode a Subscription gregor wrote; print
             "sub TOPICS OWNED GENERATION RACK USERDATA" (',' lists, '-' for none/null)
  asg HEX    decode an Assignment gregor wrote; print "asg PARTITIONS USERDATA"
then prints kafka-python's own bytes of one subscription and one assignment
at each version it writes: "mksub VERSION HEX", "mkasg VERSION HEX", and the
legacy v0 classes older kafka-python sends: "mksub legacy HEX",
"mkasg legacy HEX". The content is fixed: topics [orders, payments], owned
orders-0 orders-3 payments-1, generation 7, rack rack-a, empty user data;
assigned orders-1 payments-0 payments-2.
"""
import sys

from kafka.protocol.consumer.metadata import ConsumerProtocolAssignment as A
from kafka.protocol.consumer.metadata import ConsumerProtocolSubscription as S
from kafka.protocol.old.consumer_protocol import ConsumerProtocolMemberAssignment_v0 as LegacyA
from kafka.protocol.old.consumer_protocol import ConsumerProtocolMemberMetadata_v0 as LegacyS


def join(items):
    return ",".join(items) if items else "-"


def ud(b):
    return "-" if b is None else (b.hex() or "empty")


for line in sys.stdin:
    kind, _, hexdata = line.strip().partition(" ")
    data = bytes.fromhex(hexdata)
    if kind == "sub":
        s = S.decode(data)
        owned = [f"{tp.topic}:{p}" for tp in (s.owned_partitions or []) for p in tp.partitions]
        print("sub", join(s.topics), join(owned), s.generation_id, s.rack_id or "-", ud(s.user_data))
    elif kind == "asg":
        a = A.decode(data)
        parts = [f"{tp.topic}:{p}" for tp in a.assigned_partitions for p in tp.partitions]
        print("asg", join(parts), ud(a.user_data))

STP, ATP = S.TopicPartition, A.TopicPartition
for v in range(0, 4):
    s = S(version=v, topics=["orders", "payments"], user_data=b"",
          owned_partitions=[STP(topic="orders", partitions=[0, 3]), STP(topic="payments", partitions=[1])],
          generation_id=7, rack_id="rack-a")
    print("mksub", v, s.encode(version=v).hex())
    a = A(version=v, assigned_partitions=[ATP(topic="orders", partitions=[1]), ATP(topic="payments", partitions=[0, 2])],
          user_data=b"")
    print("mkasg", v, a.encode(version=v).hex())
print("mksub legacy", LegacyS(0, ["orders", "payments"], b"").encode().hex())
print("mkasg legacy", LegacyA(0, [("orders", [1]), ("payments", [0, 2])], b"").encode().hex())
