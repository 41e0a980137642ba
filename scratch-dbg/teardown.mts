import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, RandomPolicy, Prng } from '../src/index.ts';
import { hmmMachine, hmmOpen, hmmBufferAlloc, hmmDmirrorCmd, HMM_DMIRROR_READ, cpuFillInts, hmmNanosleep, hmmRandomSource, hmmBufferFree } from '../test/kernel/harness.ts';
for (const dev of [0, 2]) {
const machine = hmmMachine();
const process = await machine.createProcess();
const fd = await hmmOpen(machine, process, dev);
const size = 1024 * 4096;
const hmmRandom = hmmRandomSource(0x7ea4d0);
machine.sched.policy = new RandomPolicy(new Prng(0x7ea4d0));
for (let c = 0; c < 10; c++) {
  const buffer = hmmBufferAlloc(size);
  buffer.ptr = await process.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  await cpuFillInts(process, buffer.ptr, 0, size / 4, (i) => i + c);
  let unmappedAt = -1;
  const delay = hmmRandom() % 32000;
  const t0 = machine.sched.clock.now;
  const thread = machine.sched.spawn('unmap', async () => {
    await hmmNanosleep(machine, delay);
    unmappedAt = machine.sched.clock.now - t0;
    await process.munmap(buffer.ptr + size / 2, size / 2);
    buffer.ptr = 0;
  });
  const rc = await hmmDmirrorCmd(fd, HMM_DMIRROR_READ, buffer, 1024);
  const readDone = machine.sched.clock.now - t0;
  await machine.sched.join(thread);
  console.log(`dev ${dev} c=${c} delay=${delay} rc=${rc} cpages=${buffer.cpages} faults=${buffer.faults} readDone=${readDone} unmapAt=${unmappedAt}`);
  await hmmBufferFree(process, buffer);
}
}
