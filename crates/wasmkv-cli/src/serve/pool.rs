//! The wasmtime engine `serve` compiles for: the pooling allocator, sized
//! for `--max-concurrency`, so a request's instance takes preallocated
//! slots instead of fresh mappings, and a used slot is reset in place where
//! the kernel allows it; the on-demand allocator when the pool cannot be
//! set up on this machine.

use std::path::Path;

use wasmtime::{Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::component::{self, Generation, Loaded};

/// Room per request for the core instances, memories and tables a
/// component made by the usual toolchains holds (its module, the WASI
/// adapter and the shims between them), with margin.
const CORE_INSTANCES_PER_REQUEST: u32 = 16;
const MEMORIES_PER_REQUEST: u32 = 2;
const TABLES_PER_REQUEST: u32 = 8;

/// Compiles `path` for an engine of its generation that can run the
/// instances `concurrency` requests need: one each for 0.2 (plus one to
/// check it instantiates at startup); for reused 0.3 instances, room as
/// well for idle ones and for ones finishing their work after their last
/// request, which hold no request slot. Always interruptible: every guest yields at each epoch tick, so
/// a request past --timeout can be stopped and, at shutdown, a guest that
/// never returns cannot hold the process open.
pub fn compile(path: &Path, concurrency: u32, max_memory: Option<usize>) -> anyhow::Result<Loaded> {
    component::load(path, |generation| {
        let mut config = component::base_config(true, generation);
        let instances = match generation {
            Generation::P2 => concurrency.saturating_add(1),
            Generation::P3 => concurrency.saturating_mul(2).saturating_add(1),
        };
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(
            instances, generation, max_memory,
        )));
        match Engine::new(&config) {
            Ok(engine) => Ok(engine),
            Err(e) => {
                tracing::info!(
                    target: "wasmkv::serve",
                    "the pooling allocator is not available here ({e}); instances are allocated on demand"
                );
                Ok(Engine::new(&component::base_config(true, generation))?)
            }
        }
    })
}

/// How much of each linear memory, and of each table, a slot keeps
/// resident between instances when the kernel has `PAGEMAP_SCAN` (Linux
/// 6.7+). wasmtime then resets a slot by rewriting only the pages the last
/// instance wrote below this mark, back to the component's image, instead
/// of `madvise`-ing them away for the next instance to fault back in: a
/// small handler's request took about 5 page faults and 3 `madvise` calls
/// less, and about 17% less server CPU (BENCHMARKS.md, "Instance slots
/// reset in place"). Without the ioctl, keeping pages resident would mean
/// `memset`-ing the whole mark on every reset, so the default stays. The
/// cost is memory: a slot that was used keeps up to this much resident.
const MEMORY_KEEP_RESIDENT: usize = 1 << 20;
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// Fiber stacks per 0.3 instance: a task that blocks in a host call keeps
/// its stack while other work of the store runs on others.
const STACKS_PER_P3_INSTANCE: u32 = 4;

fn pooling(
    instances: u32,
    generation: Generation,
    max_memory: Option<usize>,
) -> PoolingAllocationConfig {
    let stacks = match generation {
        Generation::P2 => instances,
        Generation::P3 => instances.saturating_mul(STACKS_PER_P3_INSTANCE),
    };
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(CORE_INSTANCES_PER_REQUEST))
        .total_memories(instances.saturating_mul(MEMORIES_PER_REQUEST))
        .total_tables(instances.saturating_mul(TABLES_PER_REQUEST))
        .total_stacks(stacks)
        .max_tables_per_module(TABLES_PER_REQUEST)
        .max_memories_per_module(MEMORIES_PER_REQUEST);
    if let Some(max) = max_memory {
        pool.max_memory_size(max);
    }
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
            .table_keep_resident(TABLE_KEEP_RESIDENT);
    }
    pool
}
