import { describe, expect, it } from 'vitest';
import { OwnWrites, type WatchedEvent } from './own-writes.js';

const object = (name: string, resourceVersion: string) => ({ metadata: { name, namespace: 'ns', resourceVersion } });
const updated = (name: string, resourceVersion: string): WatchedEvent => ({ type: 'updated', object: object(name, resourceVersion) });
const deleted = (name: string): WatchedEvent => ({ type: 'deleted', object: object(name, '9') });

/** A write whose answer the test releases, so events can arrive before or after it. */
function pendingWrite<T>(): { promise: Promise<T>; answer(value: T): void; fail(error: Error): void } {
  let answer!: (value: T) => void;
  let fail!: (error: Error) => void;
  const promise = new Promise<T>((resolve, reject) => {
    answer = resolve;
    fail = reject;
  });
  return { promise, answer, fail };
}

describe('OwnWrites', () => {
  it('recognises the echo of an answered write once, and no other version of the object', async () => {
    const own = new OwnWrites();
    const triggers: string[] = [];
    await own.write('ConfigMap', 'ns', 'snap', async () => object('snap', '5'));
    expect(own.isEcho('ConfigMap', updated('snap', '4'), () => triggers.push('old'))).toBe(false);
    expect(own.isEcho('ConfigMap', updated('snap', '5'), () => triggers.push('echo'))).toBe(true);
    // The same version again (a relist) is no longer ours to swallow.
    expect(own.isEcho('ConfigMap', updated('snap', '5'), () => triggers.push('again'))).toBe(false);
    expect(own.isEcho('ConfigMap', updated('snap', '6'), () => triggers.push('someone else'))).toBe(false);
    expect(triggers).toEqual([]);
  });

  it('keeps kinds and names apart', async () => {
    const own = new OwnWrites();
    await own.write('ConfigMap', 'ns', 'snap', async () => object('snap', '5'));
    expect(own.isEcho('Secret', updated('snap', '5'), () => undefined)).toBe(false);
    expect(own.isEcho('ConfigMap', updated('other', '5'), () => undefined)).toBe(false);
    expect(
      own.isEcho('ConfigMap', { type: 'updated', object: { metadata: { name: 'snap', namespace: 'elsewhere', resourceVersion: '5' } } }, () => undefined),
    ).toBe(false);
  });

  it('holds an event that arrives before the answer, and triggers only if it was not the echo', async () => {
    const own = new OwnWrites();
    let triggered = 0;
    const echo = pendingWrite<ReturnType<typeof object>>();
    const first = own.write('Registry', 'ns', 'main', () => echo.promise);
    expect(own.isEcho('Registry', updated('main', '7'), () => triggered++)).toBe(true);
    echo.answer(object('main', '7'));
    await first;
    expect(triggered).toBe(0);

    const other = pendingWrite<ReturnType<typeof object>>();
    const second = own.write('Registry', 'ns', 'main', () => other.promise);
    // Someone else's write landed first, then ours.
    expect(own.isEcho('Registry', updated('main', '8'), () => triggered++)).toBe(true);
    other.answer(object('main', '9'));
    await second;
    expect(triggered).toBe(1);
    // Our own echo, arriving after the answer, is still recognised.
    expect(own.isEcho('Registry', updated('main', '9'), () => triggered++)).toBe(true);
    expect(triggered).toBe(1);
  });

  it('triggers for an event seen during a write that failed', async () => {
    const own = new OwnWrites();
    let triggered = 0;
    const write = pendingWrite<ReturnType<typeof object>>();
    const running = own.write('ConfigMap', 'ns', 'snap', () => write.promise);
    expect(own.isEcho('ConfigMap', updated('snap', '3'), () => triggered++)).toBe(true);
    write.fail(new Error('conflict'));
    await expect(running).rejects.toThrow('conflict');
    expect(triggered).toBe(1);
    expect(own.isEcho('ConfigMap', updated('snap', '4'), () => triggered++)).toBe(false);
  });

  it('recognises its own deletion, but not a deletion after its apply', async () => {
    const own = new OwnWrites();
    await own.write('ConfigMap', 'ns', 'part-a', async () => undefined);
    expect(own.isEcho('ConfigMap', deleted('part-a'), () => undefined)).toBe(true);
    await own.write('ConfigMap', 'ns', 'part-b', async () => object('part-b', '3'));
    expect(own.isEcho('ConfigMap', deleted('part-b'), () => undefined)).toBe(false);
  });
});
