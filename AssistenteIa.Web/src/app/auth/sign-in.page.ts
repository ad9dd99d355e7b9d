import { ChangeDetectionStrategy, Component, OnInit, inject, signal } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { ActivatedRoute, Router } from '@angular/router';
import { ApiClient, ApiError } from '../api/api-client';
import { AppConfigService } from './app-config.service';
import { AuthService } from './auth.service';

@Component({
  selector: 'app-sign-in',
  imports: [FormsModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <section class="card narrow">
      <h1 id="signInTitle">Sign in</h1>
      <p class="muted">AssistenteIa identifies your tenant by its API key. It is kept in this browser tab only.</p>
      <form (ngSubmit)="submit()" aria-labelledby="signInTitle">
        <label for="apiKey">API key</label>
        <input id="apiKey" name="apiKey" type="password" autocomplete="off" required [ngModel]="key()" (ngModelChange)="key.set($event)" [attr.aria-invalid]="!!error()" aria-describedby="apiKeyError" />
        @if (error()) {
          <p class="field-error" id="apiKeyError" role="alert">{{ error() }}</p>
        }
        <div class="actions">
          <button type="submit" class="primary" [disabled]="busy()">{{ busy() ? 'Checking…' : 'Sign in' }}</button>
        </div>
      </form>
      @if (config.current().devKeys.length) {
        <div class="dev-keys">
          <p class="muted">Development tenants:</p>
          @for (dev of config.current().devKeys; track dev.key) {
            <button type="button" (click)="useKey(dev.key)">{{ dev.tenant }}</button>
          }
        </div>
      }
    </section>
  `,
})
export class SignInPage implements OnInit {
  protected readonly config = inject(AppConfigService);
  private readonly auth = inject(AuthService);
  private readonly api = inject(ApiClient);
  private readonly router = inject(Router);
  private readonly route = inject(ActivatedRoute);
  protected readonly key = signal('');
  protected readonly error = signal<string | null>(null);
  protected readonly busy = signal(false);

  async ngOnInit(): Promise<void> {
    await this.config.load();
    const first = this.config.current().devKeys[0];
    if (first && !this.key()) {
      this.key.set(first.key);
    }
  }

  protected async useKey(key: string): Promise<void> {
    this.key.set(key);
    await this.submit();
  }

  protected async submit(): Promise<void> {
    if (!this.key().trim()) {
      this.error.set('Paste your API key.');
      return;
    }
    this.busy.set(true);
    this.error.set(null);
    this.auth.signIn(this.key());
    try {
      await this.api.listTasks({ page: 1, pageSize: 1 });
      const returnUrl = this.route.snapshot.queryParamMap.get('returnUrl');
      await this.router.navigateByUrl(returnUrl?.startsWith('/') && !returnUrl.startsWith('//') ? returnUrl : '/tasks');
    } catch (e) {
      this.auth.signOut();
      this.error.set(e instanceof ApiError && e.status === 401 ? 'This key was not accepted.' : 'The API cannot be reached. Try again.');
    } finally {
      this.busy.set(false);
    }
  }
}
