// Runs `effect` once the inputs have been still for `ms`; an answer that arrives after newer inputs is dropped.
import { useEffect } from 'preact/hooks';

export function useDebounced(effect: (isCurrent: () => boolean) => void, inputs: unknown[], ms = 300): void {
  useEffect(() => {
    let current = true;
    const timer = setTimeout(() => effect(() => current), ms);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, inputs);
}
