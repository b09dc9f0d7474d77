<?php

use Illuminate\Database\Migrations\Migration;
use Illuminate\Support\Facades\DB;

return new class extends Migration
{
    public function up(): void
    {
        DB::statement(<<<'SQL'
update invoices
set number = 'INV-' || lpad(id::text, 8, '0')
where number is null
SQL);
    }

    public function down(): void
    {
    }
};
