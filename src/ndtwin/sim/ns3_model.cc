// The ns-3 side of ndtwin's ns-3 backend, compiled at run time through cppyy (see ns3_worker.py).
//
// Each directed ndtwin link is one PointToPointChannel with a sending device at its source and a receiving
// device at its destination. The sending device's queue is a PortQueue: the port's one to three tail-drop
// queues, served FIFO or by strict priority, each buffer holding its waiting packets and its packet in
// transmission until the last bit is sent, as in ndtwin's simulator. Sources
// replay precomputed (send time, size) schedules over UDP sockets; a PacketInfo tag carries each packet's
// flow, ToS, generation time and whether it is measured.
//
// The port is the device queue itself, not a queue disc in front of a one-packet device queue: that layout
// would keep one more packet waiting in the device, already chosen, so strict priority would be decided one
// transmission early and a bit-sized buffer would not bound all the bits held.

#include <array>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <vector>

namespace ndtwin_ns3
{
using namespace ns3;

const uint16_t PORT = 9;
const uint16_t MTU = 65535; // no IP fragmentation: ndtwin packets are never split

class PacketInfo : public Tag
{
  public:
    uint32_t flow = 0;
    uint32_t tos = 0;
    uint8_t measured = 0;
    int64_t generated_ns = 0;
    int64_t enqueued_ns = 0; // arrival at the current queue

    static TypeId GetTypeId()
    {
        static TypeId tid = TypeId("ndtwin::PacketInfo").SetParent<Tag>().AddConstructor<PacketInfo>();
        return tid;
    }

    TypeId GetInstanceTypeId() const override { return GetTypeId(); }

    uint32_t GetSerializedSize() const override { return 4 + 4 + 1 + 8 + 8; }

    void Serialize(TagBuffer buffer) const override
    {
        buffer.WriteU32(flow);
        buffer.WriteU32(tos);
        buffer.WriteU8(measured);
        buffer.WriteU64(static_cast<uint64_t>(generated_ns));
        buffer.WriteU64(static_cast<uint64_t>(enqueued_ns));
    }

    void Deserialize(TagBuffer buffer) override
    {
        flow = buffer.ReadU32();
        tos = buffer.ReadU32();
        measured = buffer.ReadU8();
        generated_ns = static_cast<int64_t>(buffer.ReadU64());
        enqueued_ns = static_cast<int64_t>(buffer.ReadU64());
    }

    void Print(std::ostream& os) const override { os << "flow=" << flow; }
};

// Statistics of measured packets per queue, in the column order of ndtwin.sim.kernel's Q_* constants.
enum QueueStat
{
    ARRIVALS,
    DROPS,
    TX_PKTS,
    TX_BITS,
    SOJOURN,
    MAX_OCC,
    N_STATS
};

// An output port: up to three tail-drop queues, FIFO or strict priority (queue 0 first), non-preemptive.
// Waiting packets are kept in one list ordered by (queue, arrival), so the head is the next to send.
class PortQueue : public Queue<Packet>
{
  public:
    static TypeId GetTypeId()
    {
        static TypeId tid = TypeId("ndtwin::PortQueue").SetParent<Queue<Packet>>().SetGroupName("Network");
        return tid;
    }

    void Configure(const std::vector<int>& tos_to_queue, const std::vector<double>& buffers, bool in_bits,
                   double capacity_bps)
    {
        m_tosToQueue = tos_to_queue;
        m_buffers = buffers;
        m_inBits = in_bits;
        m_rate = DataRate(static_cast<uint64_t>(capacity_bps));
        m_stats.assign(buffers.size(), std::array<double, N_STATS>{});
        SetMaxSize(QueueSize(QueueSizeUnit::PACKETS, UINT32_MAX));
    }

    bool Enqueue(Ptr<Packet> packet) override
    {
        PacketInfo info;
        packet->PeekPacketTag(info);
        size_t q = m_tosToQueue[info.tos];
        double bits = packet->GetSize() * 8.0;
        int64_t now = Simulator::Now().GetNanoSeconds();
        bool idle = IsEmpty() && now >= m_busyUntil;
        bool sending = m_sendingQueue == q && now < m_busyUntil; // a transmission ending now has left
        double occupancy = m_inBits ? m_waitingBits[q] + bits + (sending ? m_sendingBits : 0.0)
                                    : m_waiting[q] + 1.0 + (sending ? 1.0 : 0.0);
        auto& stats = m_stats[q];
        stats[ARRIVALS] += info.measured;
        if (!idle && occupancy > m_buffers[q])
        {
            stats[DROPS] += info.measured;
            DropBeforeEnqueue(packet);
            return false;
        }
        info.enqueued_ns = now;
        packet->ReplacePacketTag(info);
        uint32_t behind = 0; // waiting packets of lower-priority queues: the new packet goes before them
        for (size_t k = q + 1; k < m_buffers.size(); ++k)
        {
            behind += m_waiting[k];
        }
        DoEnqueue(std::prev(GetContainer().end(), behind), packet);
        m_waiting[q] += 1;
        m_waitingBits[q] += bits;
        if (info.measured && !idle && occupancy > stats[MAX_OCC])
        {
            stats[MAX_OCC] = occupancy;
        }
        return true;
    }

    Ptr<Packet> Dequeue() override
    {
        Ptr<Packet> packet = Take();
        if (!packet)
        {
            return packet;
        }
        PacketInfo info;
        packet->PeekPacketTag(info);
        Time transmission = m_rate.CalculateBytesTxTime(packet->GetSize());
        int64_t end = (Simulator::Now() + transmission).GetNanoSeconds();
        m_busyUntil = end; // the device transmits the packet it dequeues at once
        m_sendingQueue = m_tosToQueue[info.tos];
        m_sendingBits = packet->GetSize() * 8.0;
        if (info.measured)
        {
            auto& stats = m_stats[m_sendingQueue];
            stats[TX_PKTS] += 1;
            stats[TX_BITS] += m_sendingBits;
            stats[SOJOURN] += (end - info.enqueued_ns) * 1e-9;
        }
        return packet;
    }

    Ptr<Packet> Remove() override { return Take(); }

    Ptr<const Packet> Peek() const override { return DoPeek(GetContainer().begin()); }

    const std::vector<std::array<double, N_STATS>>& Stats() const { return m_stats; }

  private:
    Ptr<Packet> Take()
    {
        if (IsEmpty())
        {
            return nullptr;
        }
        Ptr<Packet> packet = DoDequeue(GetContainer().begin());
        size_t q = 0;
        while (m_waiting[q] == 0) // the head belongs to the first non-empty queue
        {
            ++q;
        }
        m_waiting[q] -= 1;
        m_waitingBits[q] = m_waiting[q] ? m_waitingBits[q] - packet->GetSize() * 8.0 : 0.0;
        return packet;
    }

    std::vector<int> m_tosToQueue;
    std::vector<double> m_buffers;
    bool m_inBits = false;
    DataRate m_rate;
    std::array<uint32_t, 3> m_waiting{};
    std::array<double, 3> m_waitingBits{};
    int64_t m_busyUntil = 0;
    size_t m_sendingQueue = 0; // the queue of the packet in transmission until m_busyUntil, and its size
    double m_sendingBits = 0.0;
    std::vector<std::array<double, N_STATS>> m_stats;
};

// Replays one flow's schedule: packet k leaves at times_ns[k] with payload_bytes[k] bytes of UDP payload.
class Replay : public SimpleRefCount<Replay>
{
  public:
    Replay(Ptr<Socket> socket, uint32_t flow, uint32_t tos, const int64_t* times_ns, const int64_t* payload_bytes,
           size_t count, int64_t warmup_ns)
        : m_socket(socket), m_times(times_ns), m_payload(payload_bytes), m_count(count), m_warmup(warmup_ns)
    {
        m_info.flow = flow;
        m_info.tos = tos;
        if (count)
        {
            Simulator::Schedule(NanoSeconds(times_ns[0]), &Replay::Send, this);
        }
    }

  private:
    void Send()
    {
        Ptr<Packet> packet = Create<Packet>(m_payload[m_next]);
        m_info.generated_ns = m_times[m_next];
        m_info.measured = m_times[m_next] >= m_warmup;
        packet->AddPacketTag(m_info);
        m_socket->Send(packet);
        if (++m_next < m_count)
        {
            Simulator::Schedule(NanoSeconds(m_times[m_next] - m_times[m_next - 1]), &Replay::Send, this);
        }
    }

    Ptr<Socket> m_socket;
    const int64_t* m_times;
    const int64_t* m_payload;
    size_t m_count;
    size_t m_next = 0;
    int64_t m_warmup;
    PacketInfo m_info;
};

// Records the flow and delay of every measured packet delivered to any node, in delivery order.
class Sink
{
  public:
    std::vector<int64_t> flows;
    std::vector<double> delays;

    void Receive(Ptr<Socket> socket)
    {
        Ptr<Packet> packet;
        PacketInfo info;
        while ((packet = socket->Recv()))
        {
            packet->PeekPacketTag(info);
            if (info.measured)
            {
                flows.push_back(info.flow);
                delays.push_back((Simulator::Now().GetNanoSeconds() - info.generated_ns) * 1e-9);
            }
        }
    }
};

Ipv4Address Address(uint32_t index)
{
    return Ipv4Address(0x0a000001u + index); // from 10.0.0.1
}

// One simulation. Links are directed (src[i] -> dst[i]); the queues of link i are given by the CSR offsets
// q_offset, buffers and tos_table (n_tos entries per link); routes are (node, destination address, link)
// triples; flows send from flow_src to address flow_addr, their schedules CSR by sched_offset.
class Network
{
  public:
    Sink sink;
    std::vector<double> queue_stats; // (n_queues, N_STATS), row-major
    uint64_t packet_hops = 0;
    double run_seconds = 0;

    Network(uint32_t n_nodes, uint32_t n_links, const int64_t* src, const int64_t* dst, const double* capacity_bps,
            const double* prop_s, const int64_t* q_offset, const double* buffers, const int64_t* in_bits,
            const int64_t* tos_table, uint32_t n_tos, uint32_t n_addresses, const int64_t* address_node,
            uint32_t n_routes, const int64_t* route_node, const int64_t* route_address, const int64_t* route_link)
    {
        m_nodes.Create(n_nodes);
        InternetStackHelper stack;
        stack.Install(m_nodes);
        uint32_t next_address = n_addresses;
        std::vector<uint32_t> interface_of_link(n_links);
        for (uint32_t i = 0; i < n_links; ++i)
        {
            Ptr<PointToPointNetDevice> out = CreateObject<PointToPointNetDevice>();
            Ptr<PointToPointNetDevice> in = CreateObject<PointToPointNetDevice>();
            Ptr<PointToPointChannel> channel = CreateObject<PointToPointChannel>();
            channel->SetAttribute("Delay", TimeValue(Seconds(prop_s[i])));
            Ptr<PortQueue> queue = CreateObject<PortQueue>();
            std::vector<int> tos(tos_table + i * n_tos, tos_table + (i + 1) * n_tos);
            std::vector<double> sizes(buffers + q_offset[i], buffers + q_offset[i + 1]);
            queue->Configure(tos, sizes, in_bits[i], capacity_bps[i]);
            m_queues.push_back(queue);
            Ptr<PointToPointNetDevice> ends[2] = {out, in};
            int64_t nodes[2] = {src[i], dst[i]};
            for (int end = 0; end < 2; ++end)
            {
                Ptr<PointToPointNetDevice> device = ends[end];
                device->SetAddress(Mac48Address::Allocate());
                device->SetDataRate(DataRate(static_cast<uint64_t>(capacity_bps[i])));
                device->SetMtu(MTU);
                Ptr<Queue<Packet>> device_queue = queue;
                if (end == 1)
                {
                    device_queue = CreateObject<DropTailQueue<Packet>>(); // unused: links are directed
                }
                device->SetQueue(device_queue);
                m_nodes.Get(nodes[end])->AddDevice(device);
                device->Attach(channel);
                Ptr<Ipv4> ip = m_nodes.Get(nodes[end])->GetObject<Ipv4>();
                uint32_t interface = ip->AddInterface(device);
                ip->AddAddress(interface, Ipv4InterfaceAddress(Address(next_address++), Ipv4Mask("255.255.255.255")));
                ip->SetUp(interface);
                if (end == 0)
                {
                    interface_of_link[i] = interface;
                }
            }
        }
        for (uint32_t a = 0; a < n_addresses; ++a)
        {
            Ptr<Ipv4> ip = m_nodes.Get(address_node[a])->GetObject<Ipv4>();
            ip->AddAddress(0, Ipv4InterfaceAddress(Address(a), Ipv4Mask("255.255.255.255")));
        }
        Ipv4StaticRoutingHelper helper;
        for (uint32_t r = 0; r < n_routes; ++r)
        {
            Ptr<Ipv4StaticRouting> routing = helper.GetStaticRouting(m_nodes.Get(route_node[r])->GetObject<Ipv4>());
            routing->AddHostRouteTo(Address(route_address[r]), interface_of_link[route_link[r]]);
        }
        for (uint32_t n = 0; n < n_nodes; ++n)
        {
            Ptr<Socket> socket = Socket::CreateSocket(m_nodes.Get(n), UdpSocketFactory::GetTypeId());
            socket->Bind(InetSocketAddress(Ipv4Address::GetAny(), PORT));
            socket->SetRecvCallback(MakeCallback(&Sink::Receive, &sink));
            m_sockets.push_back(socket);
        }
    }

    void AddFlow(uint32_t flow, uint32_t node, uint32_t address, uint32_t tos, const int64_t* times_ns,
                 const int64_t* payload_bytes, size_t count, int64_t warmup_ns)
    {
        Ptr<Socket> socket = Socket::CreateSocket(m_nodes.Get(node), UdpSocketFactory::GetTypeId());
        socket->Connect(InetSocketAddress(Address(address), PORT));
        m_sockets.push_back(socket);
        m_replays.push_back(Create<Replay>(socket, flow, tos, times_ns, payload_bytes, count, warmup_ns));
    }

    // Runs until every packet is delivered or dropped, then collects the statistics and frees ns-3's state.
    void Run()
    {
        auto start = std::chrono::steady_clock::now();
        Simulator::Run();
        run_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        for (const auto& queue : m_queues)
        {
            packet_hops += queue->GetTotalReceivedPackets(); // every admitted packet is sent
            for (const auto& row : queue->Stats())
            {
                queue_stats.insert(queue_stats.end(), row.begin(), row.end());
            }
        }
        m_replays.clear();
        m_sockets.clear();
        m_queues.clear();
        Simulator::Destroy();
    }

  private:
    NodeContainer m_nodes;
    std::vector<Ptr<PortQueue>> m_queues;
    std::vector<Ptr<Socket>> m_sockets;
    std::vector<Ptr<Replay>> m_replays;
};

} // namespace ndtwin_ns3
