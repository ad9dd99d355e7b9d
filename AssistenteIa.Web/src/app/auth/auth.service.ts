import { Injectable, computed, signal } from '@angular/core';

const storageKey = 'assistenteia.apiKey';

/** The tenant's API key for this browser tab: kept in session storage, never in local storage or a cookie. */
@Injectable({ providedIn: 'root' })
export class AuthService {
  private readonly key = signal<string | null>(readStored());

  readonly apiKey = this.key.asReadonly();
  readonly signedIn = computed(() => !!this.key());

  signIn(apiKey: string): void {
    const trimmed = apiKey.trim();
    sessionStorage.setItem(storageKey, trimmed);
    this.key.set(trimmed);
  }

  signOut(): void {
    sessionStorage.removeItem(storageKey);
    this.key.set(null);
  }
}

function readStored(): string | null {
  try {
    return sessionStorage.getItem(storageKey);
  } catch {
    return null;
  }
}
