from django.contrib import admin

from invoicing.models import AddOn, ApiKey, Customer, Organization, Tax


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    can_delete = False
    # The prefix identifies a key; the secret is never stored, only its hash,
    # and the hash is not shown either.
    fields = ["prefix", "name", "created_at", "expires_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at"]

    def has_add_permission(self, request, obj=None):
        # Keys are issued by `manage.py create_organization` / the service,
        # which is the only place the raw key can be shown once.
        return False


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "legal_name", "country", "document_locale", "numbering_scheme"]
    search_fields = ["name", "legal_name", "id"]
    readonly_fields = ["id", "last_sequential_id", "created_at", "updated_at"]
    inlines = [ApiKeyInline]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "organization", "name", "created_at", "expires_at", "revoked_at"]
    list_filter = ["organization"]
    search_fields = ["prefix", "name", "organization__name"]
    fields = ["organization", "prefix", "name", "created_at", "expires_at", "revoked_at"]
    readonly_fields = ["organization", "prefix", "created_at"]

    def has_add_permission(self, request):
        return False


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["external_id", "name", "organization", "currency", "document_locale"]
    list_filter = ["organization", "currency", "document_locale"]
    search_fields = ["external_id", "name", "legal_name", "email", "id"]
    readonly_fields = ["id", "created_at", "updated_at"]


@admin.register(Tax)
class TaxAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "rate", "organization", "applied_to_organization"]
    list_filter = ["organization"]
    search_fields = ["code", "name"]


@admin.register(AddOn)
class AddOnAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "amount_cents", "amount_currency", "organization"]
    list_filter = ["organization", "amount_currency"]
    search_fields = ["code", "name"]
    filter_horizontal = ["taxes"]
