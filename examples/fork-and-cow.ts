/**
 * hmmsim's first demonstration (until the full `hmmsim demo` lands): a process maps memory,
 * writes it, forks, and both sides write — copy-on-write keeps them apart. Every mmu-notifier
 * invalidation the mm raises is printed as it happens.
 *
 * Run: npm start
 */
import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  MM_ANONPAGES,
  MMU_NOTIFY_EVENT_NAMES,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../src/index.ts';

const hex = (n: number): string => `0x${n.toString(16)}`;

async function main(): Promise<void> {
  const machine = new Machine({ memory: 64 * 1024 * 1024 });
  const t0 = Date.now();
  machine.bus.subscribe((e) => {
    if (e.type === 'invalidate_start') {
      const r = e.range;
      console.log(
        `  notifier  mm ${r.mm.id}: ${MMU_NOTIFY_EVENT_NAMES[r.event]} [${hex(r.start)}, ${hex(r.end)})`,
      );
    } else if (e.type === 'syscall') {
      console.log(
        `  syscall   pid ${e.mm}: ${e.name}(${e.args.map(hex).join(', ')}) = ${e.result < 0 ? e.result : hex(e.result)}`,
      );
    } else if (e.type === 'fault') {
      console.log(`  fault     mm ${e.mm}: ${e.write ? 'write' : 'read '} ${hex(e.addr)} -> ${e.result}`);
    }
  });
  const parent = await machine.createProcess();
  const pages = 4;
  console.log(`hmmsim: ${machine.memoryBytes / 2 ** 20} MiB machine, ${machine.pm.freeFrames} free frames`);
  console.log(`\n1. pid ${parent.pid} maps ${pages} pages of private anonymous memory and writes them`);
  const addr = await parent.mmap(
    0,
    pages * PAGE_SIZE,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS,
    -1,
    0,
  );
  for (let i = 0; i < pages; i++) await parent.store32(addr + i * PAGE_SIZE, 0x1000 + i);

  console.log('\n2. fork: the child shares every page, write-protected in both (PROTECTION_PAGE)');
  const child = await parent.fork();
  console.log(
    `   anon rss: parent ${parent.mm.rss[MM_ANONPAGES]}, child ${child.mm.rss[MM_ANONPAGES]}; frames in use ${machine.pm.ramFrames - machine.pm.freeFrames}`,
  );

  console.log('\n3. the child writes page 0: copy-on-write gives it a private copy (CLEAR on the child)');
  await child.store32(addr, 0xc0ffee);
  console.log('\n4. the parent writes page 1: its page is shared too, so it is copied as well');
  await parent.store32(addr + PAGE_SIZE, 0xbeef);

  const show = async (name: string, p: typeof parent): Promise<string> => {
    const vals: string[] = [];
    for (let i = 0; i < pages; i++) vals.push(hex(await p.load32(addr + i * PAGE_SIZE)));
    return `   ${name}: ${vals.join(' ')}`;
  };
  console.log('\n5. what each process sees');
  console.log(await show('parent', parent));
  console.log(await show('child ', child));

  console.log('\n6. the child exits, then the parent unmaps everything');
  await child.exit();
  await parent.munmap(addr, pages * PAGE_SIZE);
  await parent.exit();
  const inUse = machine.pm.ramFrames - machine.pm.freeFrames;
  console.log(
    `\ndone in ${Date.now() - t0} ms of real time, ${machine.sched.clock.now} ns of virtual time; frames still in use: ${inUse} (the zero pages and the hugetlb pool)`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
