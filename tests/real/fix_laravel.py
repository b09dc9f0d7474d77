"""A real, minimal Laravel 8 app in a temp folder, driven through the real ``php artisan``.

Laravel comes from Debian's packages (``scripts/provision-laravel``: php-cli php-pgsql
php-laravel-framework), installed under ``/usr/share/php`` on PHP's include_path, so the app
needs no Composer: ``artisan`` requires ``Illuminate/autoload.php`` and a small autoloader for
``App\\``. The config is Laravel's stock one (``config/database.php`` with the pgsql block that
reads ``DATABASE_URL``, ``APP_ENV=production`` as Laravel defaults to).

- ``laravel_skeleton`` (session): the app without migrations, built once; skips with a reason
  naming the packages when PHP, pdo_pgsql or the framework is missing.
- ``laravel_app``: a private copy of it in ``tmp_path`` with a ``pgwarden.yml`` (tool laravel,
  file store); a :class:`LaravelApp` to add migrations and run artisan against a database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGES = "php-cli php-pgsql php-laravel-framework"
FRAMEWORK = Path("/usr/share/php/Illuminate/Foundation/Application.php")
PROVIDERS = """
        Illuminate\\Bus\\BusServiceProvider::class,
        Illuminate\\Cache\\CacheServiceProvider::class,
        Illuminate\\Foundation\\Providers\\ConsoleSupportServiceProvider::class,
        Illuminate\\Database\\DatabaseServiceProvider::class,
        Illuminate\\Encryption\\EncryptionServiceProvider::class,
        Illuminate\\Filesystem\\FilesystemServiceProvider::class,
        Illuminate\\Foundation\\Providers\\FoundationServiceProvider::class,
        Illuminate\\Queue\\QueueServiceProvider::class,
        Illuminate\\View\\ViewServiceProvider::class,
"""

FILES = {
    "artisan": """\
        #!/usr/bin/env php
        <?php
        define('LARAVEL_START', microtime(true));
        require_once 'Illuminate/autoload.php';
        spl_autoload_register(function ($class) {
            if (strncmp($class, 'App\\\\', 4) === 0) {
                $file = __DIR__.'/app/'.str_replace('\\\\', '/', substr($class, 4)).'.php';
                if (is_file($file)) {
                    require $file;
                }
            }
        });
        $app = require_once __DIR__.'/bootstrap/app.php';
        $kernel = $app->make(Illuminate\\Contracts\\Console\\Kernel::class);
        $status = $kernel->handle(
            $input = new Symfony\\Component\\Console\\Input\\ArgvInput,
            new Symfony\\Component\\Console\\Output\\ConsoleOutput
        );
        $kernel->terminate($input, $status);
        exit($status);
        """,
    "bootstrap/app.php": """\
        <?php
        $app = new Illuminate\\Foundation\\Application($_ENV['APP_BASE_PATH'] ?? dirname(__DIR__));
        $app->singleton(Illuminate\\Contracts\\Console\\Kernel::class, App\\Console\\Kernel::class);
        $app->singleton(Illuminate\\Contracts\\Debug\\ExceptionHandler::class, App\\Exceptions\\Handler::class);
        return $app;
        """,
    "app/Console/Kernel.php": """\
        <?php
        namespace App\\Console;

        use Illuminate\\Foundation\\Console\\Kernel as ConsoleKernel;

        class Kernel extends ConsoleKernel
        {
            protected function commands()
            {
            }
        }
        """,
    "app/Exceptions/Handler.php": """\
        <?php
        namespace App\\Exceptions;

        use Illuminate\\Foundation\\Exceptions\\Handler as ExceptionHandler;

        class Handler extends ExceptionHandler
        {
        }
        """,
    "config/app.php": f"""\
        <?php
        return [
            'name' => 'pgwarden-test',
            'env' => env('APP_ENV', 'production'),
            'debug' => (bool) env('APP_DEBUG', false),
            'url' => 'http://localhost',
            'timezone' => 'UTC',
            'locale' => 'en',
            'key' => env('APP_KEY'),
            'cipher' => 'AES-256-CBC',
            'providers' => [{PROVIDERS}    ],
            'aliases' => [],
        ];
        """,
    "config/database.php": """\
        <?php
        return [
            'default' => env('DB_CONNECTION', 'pgsql'),
            'connections' => [
                'pgsql' => [
                    'driver' => 'pgsql',
                    'url' => env('DATABASE_URL'),
                    'host' => env('DB_HOST', '127.0.0.1'),
                    'port' => env('DB_PORT', '5432'),
                    'database' => env('DB_DATABASE', 'forge'),
                    'username' => env('DB_USERNAME', 'forge'),
                    'password' => env('DB_PASSWORD', ''),
                    'charset' => 'utf8',
                    'prefix' => '',
                    'prefix_indexes' => true,
                    'schema' => 'public',
                    'sslmode' => 'prefer',
                ],
            ],
            'migrations' => 'migrations',
        ];
        """,
    "config/cache.php": """\
        <?php
        return ['default' => 'array', 'stores' => ['array' => ['driver' => 'array']], 'prefix' => 't'];
        """,
    "config/view.php": """\
        <?php
        return ['paths' => [], 'compiled' => storage_path('framework/views')];
        """,
    ".env": """\
        APP_ENV=production
        APP_KEY=base64:c2VjcmV0LWtleS1mb3ItdGhlLXRlc3QtYXBwLTMyYg==
        DB_CONNECTION=pgsql
        """,
}
WRITABLE = ("storage/framework/views", "storage/framework/cache", "storage/logs", "bootstrap/cache",
            "database/migrations")

PGWARDEN_YML = """\
migrations:
  tool: laravel
  path: database/migrations
backup:
  store: file://./backups
"""


def laravel_missing() -> str | None:
    """Why the real Laravel cannot run here, or None."""
    php = shutil.which("php")
    if php is None:
        return "php is not installed"
    if not FRAMEWORK.is_file():
        return f"the Laravel framework is not installed ({FRAMEWORK} missing)"
    modules = subprocess.run([php, "-m"], capture_output=True, text=True, check=False).stdout.split()
    if "pdo_pgsql" not in modules:
        return "PHP has no pdo_pgsql"
    return None


def write_skeleton(root: Path) -> Path:
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    (root / "artisan").chmod(0o755)
    for folder in WRITABLE:
        (root / folder).mkdir(parents=True, exist_ok=True)
    return root


def migration_php(body_up: str, *, class_name: str | None = None, body_down: str = "",
                  within_transaction: bool = True) -> str:
    """A migration file: a named class when ``class_name`` is given, else an anonymous one."""
    flag = "" if within_transaction else "    public $withinTransaction = false;\n\n"
    up = textwrap.indent(textwrap.dedent(body_up).strip("\n"), " " * 8)
    down = textwrap.indent(textwrap.dedent(body_down).strip("\n"), " " * 8)
    head = f"class {class_name} extends Migration\n{{" if class_name else "return new class extends Migration\n{"
    tail = "}\n" if class_name else "};\n"
    return (
        "<?php\n\nuse Illuminate\\Database\\Migrations\\Migration;\nuse Illuminate\\Database\\Schema\\Blueprint;\n"
        "use Illuminate\\Support\\Facades\\DB;\nuse Illuminate\\Support\\Facades\\Schema;\n\n"
        f"{head}\n{flag}    public function up()\n    {{\n{up}\n    }}\n\n"
        f"    public function down()\n    {{\n{down}\n    }}\n{tail}"
    )


@dataclass
class LaravelApp:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "pgwarden.yml"

    @property
    def migrations(self) -> Path:
        return self.root / "database/migrations"

    def add(self, name: str, body_up: str, **kwargs: object) -> Path:
        path = self.migrations / f"{name}.php"
        path.write_text(migration_php(body_up, **kwargs))  # type: ignore[arg-type]
        return path

    def artisan(self, *args: str, url: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run real artisan against ``url`` (a Laravel-readable URL: see :func:`laravel_url`)."""
        full = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DATABASE_URL"))}
        full.update({"DATABASE_URL": url, **(env or {})})
        return subprocess.run(["php", "artisan", *args, "--no-ansi"], cwd=self.root, env=full,
                              capture_output=True, text=True, timeout=120, check=False)


def laravel_url(url: str) -> str:
    """``url`` as Laravel's URL parser takes it: PHP's parse_url rejects an empty host
    (``postgresql://u@/db?host=/socket``), so name ``localhost`` and let the query's host win."""
    return url.replace("@/", "@localhost/", 1) if "@/" in url else url


@pytest.fixture(scope="session")
def laravel_skeleton(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = laravel_missing()
    if missing:
        pytest.skip(f"real Laravel unavailable: {missing}; run scripts/provision-laravel "
                    f"(apt-get install -y {PACKAGES})")
    return write_skeleton(tmp_path_factory.mktemp("laravel-skeleton"))


@pytest.fixture
def laravel_app(laravel_skeleton: Path, tmp_path: Path) -> LaravelApp:
    root = tmp_path / "app"
    shutil.copytree(laravel_skeleton, root)
    (root / "pgwarden.yml").write_text(PGWARDEN_YML)
    return LaravelApp(root)
