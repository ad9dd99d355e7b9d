import { Injectable, signal } from '@angular/core';

/** What the server tells the page before sign-in: in Development, the seeded keys to offer. */
export interface AppConfig {
  environment: string;
  devKeys: { tenant: string; key: string }[];
}

@Injectable({ providedIn: 'root' })
export class AppConfigService {
  private readonly config = signal<AppConfig>({ environment: 'Production', devKeys: [] });
  readonly current = this.config.asReadonly();

  async load(): Promise<void> {
    try {
      const response = await fetch('/app-config.json', { headers: { Accept: 'application/json' } });
      if (response.ok) {
        const body = (await response.json()) as Partial<AppConfig>;
        this.config.set({ environment: body.environment ?? 'Production', devKeys: body.devKeys ?? [] });
      }
    } catch {
      // Without the config the page still works: the user pastes a key.
    }
  }
}
