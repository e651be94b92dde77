// cxx-server: a C++ request/response server. Each thread plays three roles in turn, in a ring:
// as acceptor it creates requests (`new` of one of many message types, with a std::string body)
// for the next thread; as worker it checks a request, builds a response of another type (with a
// std::vector of results) for the thread after it, and deletes the request; as writer it checks
// and deletes the responses it receives. From three threads on, a request is allocated by one
// thread and freed by a second, and its response allocated by the second and freed by a third;
// at two threads the response goes back to the acceptor; at one thread every free is local.
//
// Every delete is through a base-class pointer with a virtual destructor, so the compiler's
// deleting destructor calls the sized `operator delete(void*, size_t)` with the dynamic type's
// size, and std::string and std::vector return their storage through the sized form as well:
// the path a C++ program takes and a C workload never reaches. The messages travel through
// Boost.Lockfree SPSC queues allocated before the timed region. ops = requests served.
#include <boost/lockfree/spsc_queue.hpp>

#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/common/bench_common.h"

using namespace hoardlab::bench;

namespace {

constexpr const char* kName = "cxx-server";

/// A message's header; the derived types add a payload, one type per size.
class Message {
public:
  explicit Message(uint64_t tag) : tag_(tag) {}
  virtual ~Message() = default;
  /// Patterns the payload and the body from the tag.
  virtual void fill() = 0;
  /// Verifies what fill() wrote (exits kExitCorrupt on a mismatch).
  virtual void verify() const = 0;
  virtual size_t payload_size() const = 0;
  uint64_t tag() const { return tag_; }

private:
  uint64_t tag_;
};

/// A request: a fixed payload of N bytes (headers, parsed fields) and a body of any length.
template <size_t N>
class Request final : public Message {
public:
  Request(uint64_t tag, size_t body_length) : Message(tag), body_(body_length, '\0') {}
  void fill() override {
    pattern_fill(payload_.data(), N, tag());
    if (!body_.empty()) pattern_fill(body_.data(), body_.size(), tag() + 1);
  }
  void verify() const override {
    pattern_verify(kName, payload_.data(), N, tag());
    if (!body_.empty()) pattern_verify(kName, body_.data(), body_.size(), tag() + 1);
  }
  size_t payload_size() const override { return N; }

private:
  std::array<unsigned char, N> payload_;
  std::string body_;
};

/// A response: a fixed payload of N bytes and a vector of results grown element by element,
/// as a handler appends them (so the vector reallocates through its growth steps).
template <size_t N>
class Response final : public Message {
public:
  Response(uint64_t tag, size_t results) : Message(tag) {
    for (size_t i = 0; i < results; ++i)
      results_.push_back(static_cast<uint32_t>(tag * 31 + i));
  }
  void fill() override { pattern_fill(payload_.data(), N, tag()); }
  void verify() const override {
    pattern_verify(kName, payload_.data(), N, tag());
    for (size_t i = 0; i < results_.size(); ++i)
      if (results_[i] != static_cast<uint32_t>(tag() * 31 + i))
        check_failed(kName, "a response's result vector lost its contents");
  }
  size_t payload_size() const override { return N; }

private:
  std::array<unsigned char, N> payload_;
  std::vector<uint32_t> results_;
};

// The payload sizes: a request or response object is its payload plus 24 to 48 bytes of
// header, string or vector, so the objects span the small size classes from 40 B to 4 KiB.
template <template <size_t> class Kind>
Message* make(unsigned kind, uint64_t tag, size_t extra) {
  switch (kind) {
  case 0:
    return new Kind<8>(tag, extra);
  case 1:
    return new Kind<24>(tag, extra);
  case 2:
    return new Kind<40>(tag, extra);
  case 3:
    return new Kind<56>(tag, extra);
  case 4:
    return new Kind<88>(tag, extra);
  case 5:
    return new Kind<120>(tag, extra);
  case 6:
    return new Kind<184>(tag, extra);
  case 7:
    return new Kind<248>(tag, extra);
  case 8:
    return new Kind<376>(tag, extra);
  case 9:
    return new Kind<504>(tag, extra);
  case 10:
    return new Kind<760>(tag, extra);
  case 11:
    return new Kind<1016>(tag, extra);
  case 12:
    return new Kind<1528>(tag, extra);
  case 13:
    return new Kind<2040>(tag, extra);
  default:
    return new Kind<4040>(tag, extra);
  }
}
constexpr unsigned kKinds = 15;

/// Small messages are the common case, as in real servers: kind k is drawn with weight
/// proportional to 1/(k+1).
unsigned draw_kind(Rng& rng) {
  static const std::array<uint32_t, kKinds> cumulative = [] {
    std::array<uint32_t, kKinds> c{};
    uint32_t sum = 0;
    for (unsigned k = 0; k < kKinds; ++k)
      c[k] = sum += 10080 / (k + 1);
    return c;
  }();
  uint64_t x = rng.uniform(0, cumulative[kKinds - 1] - 1);
  unsigned k = 0;
  while (x >= cumulative[k])
    ++k;
  return k;
}

using Queue = boost::lockfree::spsc_queue<Message*>;

} // namespace

int main(int argc, char** argv) {
  Flags flags(kName, "C++ server: requests created by one thread, answered and deleted by the "
                     "next, responses deleted by a third; many sizes, sized delete.");
  Common c;
  c.iterations = 400000;
  uint64_t queue_size = 1024;
  uint64_t batch = 32;
  uint64_t max_body = 512;
  uint64_t max_results = 64;
  add_common(flags, c, kUseIterations);
  flags.add_u64("queue", &queue_size, "capacity of each hand-over queue (messages)", 2, 1ULL << 24);
  flags.add_u64("batch", &batch, "messages handled per role before the next role", 1, 1ULL << 20);
  flags.add_u64("max-body", &max_body, "longest request body (bytes, log-uniform from 0)", 0,
                1ULL << 24);
  flags.add_u64("max-results", &max_results, "most results in a response vector", 0, 1ULL << 20);
  flags.set_quick([&] { c.iterations = 20000; });
  flags.parse(argc, argv);
  finish_common(flags, c, kUseIterations);
  // --iterations is the number of requests in all, split among the acceptors.
  const uint64_t per_thread = std::max<uint64_t>(1, c.iterations / c.threads);
  const uint64_t total = per_thread * c.threads;

  std::vector<std::unique_ptr<Queue>> requests, responses;
  for (uint64_t t = 0; t < c.threads; ++t) {
    requests.push_back(std::make_unique<Queue>(queue_size));
    responses.push_back(std::make_unique<Queue>(queue_size));
  }
  std::atomic<uint64_t> answered{0};

  double elapsed = run_threads(c.threads, [&](uint64_t t) {
    Rng rng(c.seed, t);
    Queue& accept_out = *requests[(t + 1) % c.threads];
    Queue& work_in = *requests[t];
    Queue& work_out = *responses[(t + 1) % c.threads];
    Queue& write_in = *responses[t];
    uint64_t accepted = 0;
    for (;;) {
      bool progress = false;
      for (uint64_t b = 0; b < batch && accepted < per_thread && accept_out.write_available();
           ++b) {
        size_t body = max_body == 0 ? 0 : rng.log_uniform(1, max_body + 1) - 1;
        Message* m = make<Request>(draw_kind(rng), make_tag(t, accepted), body);
        m->fill();
        accept_out.push(m);
        ++accepted;
        progress = true;
      }
      Message* m = nullptr;
      for (uint64_t b = 0; b < batch && work_out.write_available() && work_in.pop(m); ++b) {
        m->verify();
        // The response's size is unrelated to the request's: a small query can have a large
        // answer and the other way round.
        size_t results = max_results == 0 ? 0 : rng.uniform(0, max_results);
        Message* r = make<Response>(draw_kind(rng), m->tag() ^ 0x5bd1e995ULL, results);
        r->fill();
        delete m;
        work_out.push(r);
        progress = true;
      }
      uint64_t written = 0;
      for (uint64_t b = 0; b < batch && write_in.pop(m); ++b) {
        m->verify();
        delete m;
        ++written;
      }
      if (written > 0) {
        answered.fetch_add(written, std::memory_order_relaxed);
        progress = true;
      }
      if (answered.load(std::memory_order_relaxed) == total) break;
      if (!progress) std::this_thread::yield();
    }
  });

  Result r;
  r.elapsed_s = elapsed;
  r.ops = total;
  print_result(flags, c, r);
  return 0;
}
